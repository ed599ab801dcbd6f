#!/usr/bin/env python3
"""Provider outages under a running tendd.

    bench/outage_test.py BUILD [--apps A] [--per-app C] [--outage SEC]

The site of bench/reliability_lib.py (A x C containers, 4 zones on a private named) reaches
the Docker Engine through a unix-socket proxy in front of the system dockerd (never stopped:
other tests use it), so Docker can be taken away and given back at will:
  - docker-down:    the proxy stops listening (what a stopped dockerd looks like to a client)
  - docker-garbage: the socket answers every request with junk bytes
  - named-down:     the private named is stopped (rndc refused)
For each outage the spec changes (every container and the zones), and while it lasts:
tendd stays up and /healthz answers in < 50 ms (polled every 20 ms); the affected resources
are failed or blocked with a reason; the unaffected ones converge; the retry delays shown stay
within the 5 min cap. When it ends, everything is ready again — without a trigger — within
one backoff period (the longest retry delay shown during the outage, plus one second).
"""
import argparse
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reliability_lib import Failure, Site, log, main_guard  # noqa: E402


class DockerProxy:
    """unix socket -> /var/run/docker.sock, with modes up/down/garbage."""

    def __init__(self, path, upstream="/var/run/docker.sock"):
        self.path, self.upstream = path, upstream
        self.mode = "up"
        self.lsock = None
        self.conns = []
        self.lock = threading.Lock()
        self.listen()

    def listen(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.path)
        s.listen(128)
        self.lsock = s
        threading.Thread(target=self.accept_loop, args=(s,), daemon=True).start()

    def accept_loop(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c):
        with self.lock:
            self.conns.append(c)
        if self.mode == "garbage":
            try:
                while c.recv(65536):
                    c.sendall(b"\x00\xffHTTP/9.9 ???\r\n\r\n{not json" + os.urandom(64))
            except OSError:
                pass
            c.close()
            return
        u = socket.socket(socket.AF_UNIX)
        try:
            u.connect(self.upstream)
        except OSError:
            c.close()
            return
        with self.lock:
            self.conns.append(u)

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
        pipe(c, u)

    def drop_all(self):
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass
            self.conns = []

    def set(self, mode):
        if mode == self.mode:
            return
        if mode == "down":
            self.lsock.close()
            os.unlink(self.path)
        elif self.mode == "down":
            self.listen()
        self.mode = mode
        self.drop_all()


class Poller(threading.Thread):
    def __init__(self, site):
        super().__init__(daemon=True)
        self.site = site
        self.stop_ = threading.Event()
        self.worst, self.n, self.errors, self.samples = 0.0, 0, [], []

    def run(self):
        while not self.stop_.is_set():
            t = time.perf_counter()
            try:
                self.site.get("/healthz", timeout=2)
                dt = (time.perf_counter() - t) * 1000
                self.samples.append(dt)
                self.worst = max(self.worst, dt)
                self.n += 1
            except OSError as e:
                self.errors.append(str(e))
            time.sleep(0.02)

    def done(self):
        self.stop_.set()
        self.join()
        v = sorted(self.samples) or [0]
        return self.n, self.worst, self.errors, v[int(len(v) * 0.99)]


def retry_delays(st):
    out = []
    for r in st["resources"]:
        for m in re.finditer(r"retrying in (\d+(?:\.\d+)?)\s*(ms|s|m)", r.get("message", "")):
            v = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]
            out.append(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--apps", type=int, default=3)
    ap.add_argument("--per-app", type=int, default=2)
    ap.add_argument("--outage", type=float, default=12.0, help="seconds each outage lasts")
    ap.add_argument("--work", type=float, default=30.0, help="seconds allowed for the converge itself")
    ap.add_argument("--healthz-p99", type=float, default=50.0, help="ms; the short test allows more on a busy CI box")
    a = ap.parse_args()
    site = Site(a.src, os.path.abspath(a.build), apps=a.apps, per_app=a.per_app)
    proxy_path = os.path.join(site.work, "docker-proxy.sock")
    proxy = DockerProxy(proxy_path)
    site.docker_host = f"unix:{proxy_path}"
    rows = []
    try:
        site.setup()
        site.start_tendd()
        site.converge()
        log(f"converged: {a.apps * a.per_app} containers, 4 zones (environment {site.id})")
        for outage in ("docker-down", "docker-garbage", "named-down"):
            docker_hit = outage.startswith("docker")
            # The spec changes: every container and the zones have work to do.
            for k in site.gen:
                site.gen[k] += 1
            site.expose_b ^= {0}
            site.write_spec()
            if outage == "docker-down":
                proxy.set("down")
            elif outage == "docker-garbage":
                proxy.set("garbage")
            else:
                site.stop_named()
            poll = Poller(site)
            poll.start()
            t0 = time.time()
            site.reconcile_wait(timeout=120)
            delays = []
            while time.time() - t0 < a.outage:
                st = site.status()
                delays += retry_delays(st)
                time.sleep(0.5)
            st = site.status()
            pending_retry = retry_delays(st)  # what is scheduled as the outage ends
            delays += pending_retry
            affected = [r for r in st["resources"]
                        if (r["id"].startswith(("container/", "network/", "volume/", "image/")) if docker_hit
                            else r["id"].startswith(("zone/", "dnsconf/")))]
            others = [r for r in st["resources"] if r not in affected and not r["id"].startswith("host/")]
            # With named down the bind9 provider writes the files and says named will load them
            # when it starts (docs: a named that is not running reads them at start): ready,
            # with that reason in the message; dnsconf may be failed (rndc reconfig refused).
            def explained(r):
                m = r.get("message", "")
                if r["phase"] in ("failed", "blocked"):
                    return bool(m)
                # A zone or named.conf that needed no change needs no rndc call: still ready.
                return not docker_hit
            bad_aff = [r for r in affected if not explained(r)]
            if not docker_hit and not any("named not reachable" in r.get("message", "") or r["phase"] == "failed"
                                          for r in affected):
                raise Failure("named-down: no zone says that named is not reachable")
            if bad_aff:
                raise Failure(f"{outage}: affected resources not failed/blocked with a reason: "
                              f"{[(r['id'], r['phase'], r.get('message')) for r in bad_aff[:5]]}")
            if docker_hit:
                # Zones wait for the containers whose addresses they publish (blocked) unless
                # they carry no container: what matters is that nothing unrelated failed.
                bad_other = [r for r in others if r["phase"] == "failed"]
            else:
                bad_other = [r for r in others if r["phase"] != "ready"]
            if bad_other:
                raise Failure(f"{outage}: unaffected resources not converged: "
                              f"{[(r['id'], r['phase'], r.get('message')) for r in bad_other[:5]]}")
            reason = next((r["message"] for r in affected if r["phase"] == "failed"), "")
            cap = max(delays) if delays else 0
            if cap > 300:
                raise Failure(f"{outage}: a retry delay of {cap} s exceeds the 5 min cap")
            # The outage ends; no trigger: tendd's own retries must converge.
            t1 = time.time()
            log(f"{outage}: ends at {time.strftime('%H:%M:%S')}")
            if docker_hit:
                proxy.set("up")
            else:
                site.start_named()
            # Converged within one backoff period: no later than the longest retry delay the
            # status showed (during the outage or while recovering; the status is rendered at
            # most every 500 ms, so a delay set just before the end shows a little later),
            # +1 s, + --work seconds for the work itself (the changed containers replaced, zones
            # reloaded: 5-15 s for 4 containers on the loaded 2-core machine).
            seen = list(pending_retry)
            while True:
                st = site.status()
                seen += retry_delays(st)
                notready = [r for r in st["resources"] if r["phase"] != "ready"]
                if not notready:
                    break
                if time.time() - t1 > 300 + 6:
                    raise Failure(f"{outage}: not converged within the 5 min backoff cap after the outage "
                                  f"ended: {[(r['id'], r['phase'], r.get('message')) for r in notready[:5]]}")
                time.sleep(0.2)
            limit = max(seen or [1]) + 1 + a.work
            if time.time() - t1 > limit:
                raise Failure(f"{outage}: converged {time.time() - t1:.1f} s after the outage ended, later "
                              f"than one backoff period ({max(seen or [1]):.1f} s) + 1 s + {a.work:.0f} s of work")
            cap = max(cap, max(seen or [0]))
            recovered = time.time() - t1
            if not docker_hit:
                # named restarted reads the files tend wrote: it serves the newest serial.
                files = site.check_serials()
                served = site.served_serial("b.test")
                newest = max(v for k, v in site.zone_serials.items() if "/internal/b.test" in k)
                if served != newest:
                    raise Failure(f"named-down: named serves b.test serial {served}, tend wrote {newest}")
            n, worst, errors, p99 = poll.done()
            if errors or site.proc.poll() is not None:
                raise Failure(f"{outage}: /healthz failed: {errors[:3]}")
            # p99, not max: the test's own polling and the site share the 2 loaded cores.
            if p99 >= a.healthz_p99:
                raise Failure(f"{outage}: /healthz p99 {p99:.1f} ms (< {a.healthz_p99:.0f} ms required; max {worst:.1f} ms)")
            rows.append((outage, len(affected), reason[:90], cap, recovered, worst, n))
            log(f"ok: {outage}: {len(affected)} affected failed/blocked ({reason[:90]}), others converged, "
                f"longest retry delay {cap:.0f} s, converged {recovered:.1f} s after recovery without a "
                f"trigger, /healthz p99 {p99:.1f} ms, max {worst:.1f} ms over {n} polls")
        log("PASS: docker down, docker answering garbage, named down")
        return 0
    except Failure:
        log(f"tendd log: {site.work}/tendd.log")
        keep = True
        raise
    finally:
        site.cleanup(keep=locals().get("keep", False))


if __name__ == "__main__":
    main_guard(main)
