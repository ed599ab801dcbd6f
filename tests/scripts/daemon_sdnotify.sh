#!/usr/bin/env bash
# tendd under systemd's Type=notify, without systemd: the sd_notify protocol is datagrams to the
# unix socket in $NOTIFY_SOCKET, so this test binds one and checks what tendd says and when:
# READY=1 only after the first spec load, WATCHDOG=1 at least every WATCHDOG_USEC/2 (only when
# WATCHDOG_PID is ours), RELOADING=1 ... READY=1 around SIGHUP, STOPPING=1 on SIGTERM.
source "$(dirname "$0")/daemon_lib.sh"

SPEC=$WORK/spec
mkdir -p "$SPEC"
printf 'environment: notifytest\nreconcile: { interval: 1h }\n' >"$SPEC/environment.yml"

python3 - "$TENDD" "$WORK" "$SPEC" "$(free_port)" "$(free_port)" <<'PY' || fail "sd_notify protocol"
import json, os, signal, socket, subprocess, sys, time, urllib.request

tendd, work, spec, port1, port2 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
WATCHDOG_USEC = 2_000_000

def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    for name in sorted(os.listdir(work)):
        if name.endswith(".log"):
            print("---", name, file=sys.stderr)
            with open(os.path.join(work, name)) as f:
                print("".join(f.readlines()[-30:]), file=sys.stderr)
    sys.exit(1)

class Notify:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path
        self.msgs = []  # (monotonic time, {key: value})

    def recv(self, timeout):
        self.sock.settimeout(max(0.001, timeout))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        kv = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        m = (time.monotonic(), kv)
        self.msgs.append(m)
        return m

    def wait_for(self, key, value, timeout, on_other=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(end - time.monotonic())
            if m is None:
                break
            if m[1].get(key) == value:
                return m
            if on_other:
                on_other(m)
        return None

def start(name, port, watchdog_pid):
    n = Notify(os.path.join(work, name + ".sock"))
    env = dict(os.environ, NOTIFY_SOCKET=n.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    args = [tendd, "--spec", spec, "--state", os.path.join(work, name, "tend.db"),
            "--listen", f"127.0.0.1:{port}", "--socket", "off", "--log-format", "json"]
    log = open(os.path.join(work, name + ".log"), "w")
    if watchdog_pid == "self":
        # systemd sets WATCHDOG_PID to the service's main PID: exec keeps the shell's PID.
        p = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"'] + args, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    else:
        env["WATCHDOG_PID"] = str(watchdog_pid)
        p = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    return n, p

def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read()

procs = []
try:
    # ---------------------------------------------------------------- the main daemon
    n, p = start("main", port1, "self")
    procs.append(p)
    t0 = time.monotonic()
    early = []
    ready = n.wait_for("READY", "1", 20, on_other=early.append)
    if ready is None:
        fail(f"no READY=1 within 20 s; got {[m[1] for m in n.msgs]}")
    # READY=1 means: listening, and the first spec load has happened (the unit's contract).
    status = json.loads(get(port1, "/v1/status")[1])
    if not status.get("revision") or status.get("spec_error") is not None:
        fail(f"READY=1 came before the first spec load: {status}")
    if "spec loaded" not in ready[1].get("STATUS", ""):
        fail(f"READY=1 should carry STATUS=spec loaded: {ready[1]}")
    if any(m[1].get("READY") == "1" for m in early):
        fail("READY=1 twice at start")
    print(f"ok: READY=1 after {1000*(ready[0]-t0):.0f} ms, after the first spec load")

    # Watchdog: pings for 5 s; the gap must stay below WATCHDOG_USEC/2 plus timer slack.
    end = time.monotonic() + 5
    while time.monotonic() < end:
        n.recv(end - time.monotonic())
    pings = [m[0] for m in n.msgs if m[1].get("WATCHDOG") == "1"]
    if len(pings) < 4:
        fail(f"expected at least 4 WATCHDOG=1 in 5 s after READY (every 1 s), got {len(pings)}")
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    half = WATCHDOG_USEC / 2e6
    if max(gaps) > half + 0.5:
        fail(f"watchdog gaps {['%.2f' % g for g in gaps]} exceed WATCHDOG_USEC/2 = {half}s (+0.5s slack)")
    if sum(gaps) / len(gaps) > half * 1.1:
        fail(f"mean watchdog gap {sum(gaps)/len(gaps):.2f}s, want ~{half}s")
    print(f"ok: {len(pings)} WATCHDOG=1, gaps {min(gaps):.2f}..{max(gaps):.2f} s")

    # SIGHUP: RELOADING=1 (with MONOTONIC_USEC, systemd >= 253 wants it), then READY=1.
    mark = len(n.msgs)
    p.send_signal(signal.SIGHUP)
    rel = n.wait_for("RELOADING", "1", 10)
    if rel is None:
        fail(f"no RELOADING=1 after SIGHUP: {[m[1] for m in n.msgs[mark:]]}")
    if not rel[1].get("MONOTONIC_USEC", "").isdigit():
        fail(f"RELOADING=1 without MONOTONIC_USEC: {rel[1]}")
    again = n.wait_for("READY", "1", 15)
    if again is None:
        fail(f"no READY=1 after RELOADING=1: {[m[1] for m in n.msgs[mark:]]}")
    print(f"ok: SIGHUP: RELOADING=1, READY=1 after {1000*(again[0]-rel[0]):.0f} ms")

    # An invalid spec on SIGHUP: still READY=1 (the daemon serves the last good spec), status says so.
    with open(os.path.join(spec, "environment.yml"), "a") as f:
        f.write("bogus_key: 1\n")
    time.sleep(1)  # let the inotify reload of this edit pass first
    p.send_signal(signal.SIGHUP)
    if n.wait_for("RELOADING", "1", 10) is None:
        fail("no RELOADING=1 after the second SIGHUP")
    bad = n.wait_for("READY", "1", 15)
    if bad is None or "invalid" not in bad[1].get("STATUS", ""):
        fail(f"READY=1 after an invalid reload should say the spec is invalid: {bad and bad[1]}")
    print("ok: SIGHUP with an invalid spec: READY=1, STATUS says invalid")

    # SIGTERM: STOPPING=1, exit 0.
    p.send_signal(signal.SIGTERM)
    if n.wait_for("STOPPING", "1", 15) is None:
        fail(f"no STOPPING=1 after SIGTERM: {[m[1] for m in n.msgs[-5:]]}")
    rc = p.wait(20)
    if rc != 0:
        fail(f"exit code after SIGTERM: {rc}")
    print("ok: SIGTERM: STOPPING=1, exit 0")

    # ------------------------------------------- WATCHDOG_PID of another process: no pings
    with open(os.path.join(spec, "environment.yml"), "w") as f:
        f.write("environment: notifytest\nreconcile: { interval: 1h }\n")
    n2, p2 = start("other", port2, 1)
    procs.append(p2)
    if n2.wait_for("READY", "1", 20) is None:
        fail("no READY=1 with a foreign WATCHDOG_PID")
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        n2.recv(end - time.monotonic())
    if any(m[1].get("WATCHDOG") == "1" for m in n2.msgs):
        fail("WATCHDOG=1 sent although WATCHDOG_PID names another process")
    p2.send_signal(signal.SIGTERM)
    if p2.wait(20) != 0:
        fail("exit code after SIGTERM (second daemon)")
    print("ok: no watchdog pings when WATCHDOG_PID is another process")
finally:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
PY
pass "sd_notify READY, WATCHDOG, RELOADING, STOPPING"
