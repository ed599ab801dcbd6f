#!/usr/bin/env python3
"""Drives tendd's web page in headless Chromium over the DevTools protocol (no third-party
modules: a minimal WebSocket client below) and checks what the page shows.

Usage: ui_web_check.py BASE_URL TOKEN OUT_DIR
Checks: the overview (tiers, counts, blocked chains, the virtualised table and its filter), a
blocked chain in a resource's detail, the dependency graph's blocking edges, the plan with its
diff, live updates arriving while resources churn, and "Reconcile now": refused without the
token (the prompt dismissed), a run started with it (the prompt answered). Screenshots of each
view go to OUT_DIR. Exit 0 when every check passed."""
import base64, json, os, re, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request

BASE, TOKEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]


class WS:
    def __init__(self, url):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.s = socket.create_connection((m.group(1), int(m.group(2))), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {m.group(3)} HTTP/1.1\r\nHost: {m.group(1)}:{m.group(2)}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.s.recv(4096)
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head

    def send(self, text):
        data = text.encode()
        hdr = bytes([0x81])
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise EOFError("devtools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if b0 & 0x0F == 8:
                raise EOFError("closed")
            msg += payload
            if b0 & 0x80:
                return msg.decode()


class Page:
    def __init__(self, ws):
        self.ws, self.id, self.events = ws, 0, []

    def call(self, method, **params):
        self.id += 1
        self.ws.send(json.dumps({"id": self.id, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)
            self.on_event(m)

    def on_event(self, m):
        if m.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(m["params"])

    dialogs = []

    def wait_dialog(self, timeout=20):
        # While a prompt is open the page's script is paused: only read events, send nothing.
        t0 = time.time()
        while not self.dialogs and time.time() - t0 < timeout:
            m = json.loads(self.ws.recv())
            self.events.append(m)
            self.on_event(m)
        return self.dialogs[-1] if self.dialogs else None

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr, what, timeout=30):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.js(expr):
                return
            time.sleep(0.2)
        fail(f"{what}: timed out waiting for {expr}\n--- page text:\n{self.text()[:3000]}")

    def text(self):
        return self.js("document.body.innerText") or ""

    def shot(self, name):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path = os.path.join(OUT, name + ".png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        assert os.path.getsize(path) > 1000, path


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def runs():
    with urllib.request.urlopen(BASE + "/v1/runs?limit=50") as r:
        return json.load(r)


def last_run_id():
    rs = runs()
    return rs[0]["id"] if rs else 0


def main():
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    profile = tempfile.mkdtemp(prefix="tend-chromium-")
    proc = subprocess.Popen([chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--no-first-run", "--disable-extensions", "--remote-debugging-address=127.0.0.1",
                             # Loopback only: no background fetches, and anything not on loopback
                             # goes to a dead proxy (loopback bypasses proxies).
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
                             "--proxy-server=http://127.0.0.1:9",
                             "--remote-debugging-port=0", "--window-size=1280,900", f"--user-data-dir={profile}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        t0 = time.time()
        while time.time() - t0 < 60 and not url:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line or "")
            if m:
                url = m.group(1)
        if not url:
            fail("chromium did not start its DevTools endpoint")
        port = re.match(r"ws://[^:]+:(\d+)/", url).group(1)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        p = Page(WS(page_ws))
        p.call("Page.enable")
        p.call("Runtime.enable")
        p.call("Page.navigate", url=BASE + "/")
        p.wait("document.querySelector('#vt .vt-row') !== null && document.querySelector('#live').textContent === 'live'",
               "overview")
        txt = p.text()
        for want in ["networking", "apps", "blocked chains", "container/app2/web", "container/app1/db",
                     "exited with code 3", "churn-r1"]:
            if want not in txt:
                fail(f"overview lacks '{want}'\n{txt[:2000]}")
        chain = p.js("[...document.querySelectorAll('#chains li.chain')].map(li => li.innerText).join('\\n')")
        if not re.search(r"container/app2/web.*container/app1/web.*container/app1/db", chain.replace("\n", " ")):
            fail(f"blocked chain app2/web -> app1/web -> app1/db not shown: {chain}")
        total = p.js("document.querySelector('#vt-count').textContent")
        if not re.match(r"\d+ of \d+ resources", total) or int(total.split()[0]) < 10000:
            fail(f"the table should hold every resource: {total}")
        rows = p.js("document.querySelectorAll('#vt .vt-row').length")
        if rows > 200:
            fail(f"the table must be virtualised, {rows} rows in the DOM")
        p.shot("overview")
        ok(f"overview: tiers, blocked chain, {total} ({rows} rows in the DOM)")

        # Live updates: the churn changes phases; the page must follow without reloading.
        before = p.js("JSON.stringify([...document.querySelectorAll('#tier-table td')].map(t => t.textContent))")
        p.wait(f"JSON.stringify([...document.querySelectorAll('#tier-table td')].map(t => t.textContent)) !== {json.dumps(before)}",
               "live tier counts")
        ok("tier counts change live (event stream)")

        p.js("(() => { const f = document.querySelector('#filter'); f.value = 'phase:failed'; f.dispatchEvent(new Event('input')); })()")
        p.wait("document.querySelector('#vt-count').textContent.startsWith('1 of ')", "filter phase:failed")
        ok("filter phase:failed leaves 1 resource")

        p.js("location.hash = '#/r/container/app2/web'")
        p.wait("document.querySelector('#blocked-by') !== null", "detail of a blocked resource")
        bb = p.js("document.querySelector('#blocked-by').innerText")
        if "container/app1/web" not in bb or "container/app1/db" not in bb:
            fail(f"blocked-by chain: {bb}")
        if "needed by" not in p.text() or "depends on" not in p.text():
            fail("detail lacks dependencies up/down")
        p.shot("blocked-chain")
        ok("detail shows the blocked chain and dependencies")

        p.js("location.hash = '#/graph/app2'")
        p.wait("document.querySelectorAll('#graph-svg .edge.blocking').length > 0", "graph with blocking edges")
        p.js("location.hash = '#/graph'")
        p.wait("document.querySelectorAll('#graph-svg a.node').length > 100", "site graph")
        p.shot("graph")
        ok("dependency graph: app and site, blocking edges in red")

        p.js("location.hash = '#/plan'")
        p.wait("document.querySelector('#plan-summary') !== null", "plan", timeout=60)
        txt = p.text()
        for want in ["1 to replace", "container/app3/web", "local/busybox:1.36", "local/busybox:1.35", "1 to create"]:
            if want not in txt:
                fail(f"plan lacks '{want}'\n{txt[:2000]}")
        p.shot("plan-diff")
        ok("plan with its diff")

        # Reconcile now: the prompt dismissed -> refused; answered with the token -> a run.
        p.js("location.hash = '#/runs'")
        p.wait("document.querySelector('#runs-table') !== null", "runs view")
        n0 = last_run_id()
        p.dialogs.clear()
        p.js("setTimeout(() => document.querySelector('#reconcile').click(), 0)")
        d = p.wait_dialog()
        if not d or d["type"] != "prompt":
            fail("reconcile without a token should prompt for it")
        p.call("Page.handleJavaScriptDialog", accept=False)
        p.wait("document.querySelector('#notice').textContent.includes('refused')", "refusal shown")
        time.sleep(0.5)
        if last_run_id() != n0:
            fail("a refused reconcile started a run")
        ok("reconcile now without the token: refused, no run")
        p.dialogs.clear()
        p.js("setTimeout(() => document.querySelector('#reconcile').click(), 0)")
        if not p.wait_dialog():
            fail("no token prompt the second time")
        p.call("Page.handleJavaScriptDialog", accept=True, promptText=TOKEN)
        p.wait("/run \\d+ (started|finished)/.test(document.querySelector('#notice').textContent)", "run started")
        rs = runs()
        if not rs or rs[0]["id"] <= n0 or rs[0]["trigger"] != "api":
            fail(f"no api run recorded: {rs[:2]}")
        if TOKEN in p.text() or TOKEN in p.js("document.documentElement.outerHTML"):
            fail("the token shows in the page")
        p.shot("reconciled")
        ok(f"reconcile now with the token: run {rs[0]['id']} started")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


main()
