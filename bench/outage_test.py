#!/usr/bin/env python3
"""Provider outages under a running tendd.

    bench/outage_test.py BUILD [--apps A] [--per-app C] [--vms V] [--outage SEC]
                               [--scenarios docker-down,docker-garbage,named-down,proxmox-500,proxmox-hang,ssh-down]

The site of bench/reliability_lib.py (A x C containers, 4 zones on a private named) reaches
the Docker Engine through a unix-socket proxy in front of the system dockerd (never stopped:
other tests use it), so Docker can be taken away and given back at will. With the proxmox-*
scenarios it also has a template and V VMs on the Proxmox VE API emulator
(tests/fixtures/proxmox); with ssh-down its hosts are configured over SSH: Debian test hosts
(tests/fixtures/ssh/test-hosts.sh) play `local` (the Docker host), each VM's guest, and `far`,
a host with a directory and --ssh-files files whose sshd is reached through a TCP proxy on its
own 127.0.0.x address.
  - docker-down:    the proxy stops listening (what a stopped dockerd looks like to a client)
  - docker-garbage: the socket answers every request with junk bytes
  - named-down:     the private named is stopped (rndc refused)
  - proxmox-500:    the API answers every call `500 cluster not ready - no quorum?`
  - proxmox-hang:   the API reads every call and never answers (tend's call deadline: 30 s)
  - ssh-down:       far's sshd stops: the proxy stops listening and drops the open sessions
For each outage the spec changes (every container, the zones, every VM, far's files), and
while it lasts: tendd stays up and /healthz answers in < 50 ms (polled every 20 ms); the
affected resources are failed or blocked with a reason naming the cause; the unaffected ones
converge; the retry delays shown stay within the 5 min cap. When it ends, everything is ready
again — without a trigger — within one backoff period (the longest retry delay shown, plus one
second, plus --work for the work itself), and the changes are there (VM tags, far's files,
named's serial).

Exit 0: passed; 1: failed; 77: ssh-down could not run here (no test host image) and the other
scenarios passed (under CI=true that is a failure).
"""
import argparse
import datetime
import os
import random
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reliability_lib import Failure, PveEmulator, Site, TestHosts, Unavailable, log, main_guard  # noqa: E402


class Proxy:
    """A stream proxy with modes up/down/garbage: LISTEN -> UPSTREAM, each a unix socket path or
    a (host, port) on loopback. `down` closes the listener (connections are refused, or the
    socket file is gone: what a stopped server looks like to a client) and drops every open
    connection; `garbage` answers every request with junk bytes."""

    def __init__(self, listen, upstream):
        self.addr, self.upstream = listen, upstream
        self.family = socket.AF_UNIX if isinstance(listen, str) else socket.AF_INET
        self.mode = "up"
        self.lsock = None
        self.conns = []
        self.lock = threading.Lock()
        self.listen()

    def listen(self):
        if self.family == socket.AF_UNIX and os.path.exists(self.addr):
            os.unlink(self.addr)
        s = socket.socket(self.family)
        if self.family == socket.AF_INET:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(self.addr)
        s.listen(128)
        self.lsock = s
        if self.family == socket.AF_INET:
            self.addr = s.getsockname()  # port 0: the one the kernel chose, kept across restarts
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
        u = socket.socket(self.family)
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
            # shutdown first: a close alone leaves a listener that another thread is blocked in
            # accept() on still accepting (Linux), and connections would still get through.
            try:
                self.lsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.lsock.close()
            if self.family == socket.AF_UNIX:
                os.unlink(self.addr)
        elif self.mode == "down":
            self.listen()
        self.mode = mode
        self.drop_all()

    def close(self):
        if self.mode != "down":
            self.set("down")


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


SCENARIOS = ("docker-down", "docker-garbage", "named-down", "proxmox-500", "proxmox-hang", "ssh-down")
# What names the cause in a failed resource's message, per scenario.
CAUSES = {
    "docker-down": r"cannot connect to docker",
    "docker-garbage": r"docker request .* failed",
    "proxmox-500": r"500|cluster not ready",
    "proxmox-hang": r"timed out",
    "ssh-down": r"cannot connect|[Cc]onnection refused",
}


def applied_since(r, t0):
    """The resource is ready and was applied at or after t0 (last_applied has 1 s resolution)."""
    la = r.get("last_applied")
    if r["phase"] != "ready" or not la:
        return False
    when = datetime.datetime.fromisoformat(la.replace("Z", "+00:00")).timestamp()
    return when >= int(t0)


def ci():
    return os.environ.get("CI") in ("true", "1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--apps", type=int, default=3)
    ap.add_argument("--per-app", type=int, default=2)
    ap.add_argument("--vms", type=int, default=3, help="Proxmox VMs (with the proxmox-* scenarios)")
    ap.add_argument("--ssh-files", type=int, default=4, help="files on the SSH host taken away (ssh-down)")
    ap.add_argument("--outage", type=float, default=12.0,
                    help="seconds each outage lasts at least (longer when the affected resources "
                         "need longer to show the failure: a hanging API fails a call at its 30 s deadline)")
    ap.add_argument("--work", type=float, default=30.0, help="seconds allowed for the converge itself")
    ap.add_argument("--healthz-p99", type=float, default=50.0, help="ms; the short test allows more on a busy CI box")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (tendd.log, pve.log)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma-separated, in this order: " + ", ".join(SCENARIOS))
    a = ap.parse_args()
    scenarios = [x.strip() for x in a.scenarios.split(",") if x.strip()]
    for x in scenarios:
        if x not in SCENARIOS:
            ap.error(f"unknown scenario {x} (known: {', '.join(SCENARIOS)})")
    site = Site(a.src, os.path.abspath(a.build), apps=a.apps, per_app=a.per_app)
    proxy_path = os.path.join(site.work, "docker-proxy.sock")
    proxy = Proxy(proxy_path, "/var/run/docker.sock")
    site.docker_host = f"unix:{proxy_path}"
    pve = hosts = ssh_proxy = None
    ssh_gen = 0

    def far_files(gen):
        return {f"/srv/tend-{site.id}/f{i}.conf": f"generation {gen}\n" for i in range(a.ssh_files)}
    skipped = None
    rows = []
    t_start = time.time()
    try:
        use_pve = any(x.startswith("proxmox") for x in scenarios)
        use_ssh = "ssh-down" in scenarios
        if use_ssh:
            # local (the Docker host and named's), far (behind the proxy taken away), one per VM.
            try:
                hosts = TestHosts(a.src, site.work, 2 + (a.vms if use_pve else 0))
            except Unavailable as e:
                if ci():
                    raise Failure(f"CI=true and ssh-down cannot run: {e}")
                skipped = f"ssh-down not run: {e}"
                log(f"note: {skipped}; the other scenarios run")
                scenarios.remove("ssh-down")
                use_ssh = False
        if use_ssh:
            (_, local_addr, _), (_, far_addr, _) = hosts.hosts[:2]
            # sshd of host `far` behind a TCP proxy on its own loopback address; the host key is
            # recorded for that address and port.
            ssh_proxy = Proxy((f"127.0.0.{random.randint(2, 254)}", 0), (far_addr, 22))
            hosts.add_known(ssh_proxy.addr[0], ssh_proxy.addr[1], hosts.host_key(far_addr))
            site.ssh = {"user": "root", "private_key_file": hosts.key, "known_hosts_file": hosts.known_hosts,
                        "connect_timeout": "5s"}
            site.local_address = local_addr
            site.ssh_hosts = [{"name": "far", "address": ssh_proxy.addr[0], "ssh_port": ssh_proxy.addr[1],
                               "files": far_files(0)}]
        if use_pve:
            pve = PveEmulator(a.src, site.work)
            site.proxmox = pve.provider()
            site.files["pve-token"] = PveEmulator.SECRET + "\n"
            site.template = pve.template()
            # With providers.ssh each VM is also a host configured over SSH: a test host plays
            # its guest (the VM's address is the test host's).
            site.vms = [{"name": f"vm{i}", "vmid": 1001 + i,
                         "ip": hosts.hosts[2 + i][1] if use_ssh else f"127.0.50.{10 + i}"} for i in range(a.vms)]
        site.setup()
        site.start_tendd()
        site.converge()
        log(f"set up in {time.time() - t_start:.1f} s; converged: {a.apps * a.per_app} containers, 4 zones"
            + (f", a template and {a.vms} VMs" if use_pve else "")
            + (f", {2 + (a.vms if use_pve else 0)} hosts over SSH" if use_ssh else "")
            + f" (environment {site.id}, work {site.work})")
        for outage in scenarios:
            kind = outage.split("-")[0]
            # The spec changes: every container, the zones, every VM and the SSH host's files
            # have work to do.
            for k in site.gen:
                site.gen[k] += 1
            site.expose_b ^= {0}
            for v in site.vms:
                site.vm_gen[v["name"]] = site.vm_gen.get(v["name"], 0) + 1
            ssh_gen += 1
            for h in site.ssh_hosts:
                h["files"] = far_files(ssh_gen)
            site.write_spec()
            if outage == "docker-down":
                proxy.set("down")
            elif outage == "docker-garbage":
                proxy.set("garbage")
            elif outage == "named-down":
                site.stop_named()
            elif outage == "proxmox-500":
                # pveproxy answering every call with an error, as when pmxcfs has lost quorum.
                pve.admin("POST", "/faults", {"status": 500, "message": "cluster not ready - no quorum?"})
            elif outage == "proxmox-hang":
                # Every call is read and never answered (a stuck pveproxy worker).
                pve.admin("POST", "/faults", {"kind": "hang"})
            elif outage == "ssh-down":
                ssh_proxy.set("down")
            vm_names = {v["name"] for v in site.vms}

            def is_affected(rid):
                if kind == "docker":
                    return rid.startswith(("container/", "network/", "volume/", "image/"))
                if kind == "named":
                    return rid.startswith(("zone/", "dnsconf/"))
                if kind == "proxmox":
                    return (rid.startswith(("vm/", "template/"))
                            or (rid.startswith("host/") and rid.split("/")[1] in vm_names))
                return rid == "host/far" or rid.startswith("host/far/")

            def explained(r):
                m = r.get("message", "")
                if r["phase"] in ("failed", "blocked"):
                    return bool(m)
                # named down: a zone or named.conf that needed no change needs no rndc call
                # (still ready), and a changed zone is written for named to read at its start.
                return kind == "named"

            def waits_for_docker(r):
                # With Docker away, zones (and the named.conf naming them) wait for the
                # containers whose addresses they publish: blocked, not failed.
                return kind == "docker" and r["kind"] in ("zone", "dnsconf")

            poll = Poller(site)
            poll.start()
            t0 = time.time()
            run_done = threading.Event()
            threading.Thread(target=lambda: (site.reconcile_wait(timeout=300), run_done.set()), daemon=True).start()
            delays = []
            others_at = shown_at = None
            while True:
                st = site.status()
                delays += retry_delays(st)
                affected = [r for r in st["resources"] if is_affected(r["id"])]
                others = [r for r in st["resources"] if not is_affected(r["id"])]
                # The unaffected resources that had work (containers, VMs, the SSH host's
                # files), applied since the change, and nothing unaffected left to do.
                changed = [r for r in others if r["kind"] in ("container", "vm", "file")]
                if others_at is None and changed and all(applied_since(r, t0) for r in changed) and \
                        all(r["phase"] == "ready" for r in others if not waits_for_docker(r)):
                    others_at = time.time() - t0
                # The outage shows: every affected resource failed or blocked with a reason (some
                # failed); with named down, the run's outcome (checked below) is what shows.
                shows = kind == "named" or (affected and all(explained(r) for r in affected)
                                            and any(r["phase"] == "failed" for r in affected))
                if shown_at is None and shows:
                    shown_at = time.time() - t0
                # Zones wait for containers (docker down): then the run's end is what says the
                # others had their turn.
                if time.time() - t0 >= a.outage and shown_at is not None and (others_at is not None or
                                                                              run_done.is_set()):
                    break
                if time.time() - t0 > a.outage + 180:
                    raise Failure(f"{outage}: after {time.time() - t0:.0f} s the run has "
                                  f"{'' if run_done.is_set() else 'not '}ended and the affected resources are "
                                  f"{[(r['id'], r['phase'], r.get('message')) for r in affected[:5]]}")
                time.sleep(0.5)
            st = site.status()
            pending_retry = retry_delays(st)  # what is scheduled as the outage ends
            delays += pending_retry
            affected = [r for r in st["resources"] if is_affected(r["id"])]
            others = [r for r in st["resources"] if not is_affected(r["id"])]
            bad_aff = [r for r in affected if not explained(r)]
            if kind == "named" and not any("named not reachable" in r.get("message", "") or r["phase"] == "failed"
                                           for r in affected):
                raise Failure("named-down: no zone says that named is not reachable")
            if bad_aff:
                raise Failure(f"{outage}: affected resources not failed/blocked with a reason: "
                              f"{[(r['id'], r['phase'], r.get('message')) for r in bad_aff[:5]]}")
            if outage in CAUSES:
                wrong = [r for r in affected if r["phase"] == "failed"
                         and not re.search(CAUSES[outage], r.get("message", ""))]
                if wrong:
                    raise Failure(f"{outage}: failed with a reason that does not name the cause "
                                  f"(/{CAUSES[outage]}/): {[(r['id'], r.get('message')) for r in wrong[:5]]}")
            bad_other = [r for r in others if r["phase"] == "failed"
                         or (r["phase"] != "ready" and not waits_for_docker(r))]
            if bad_other:
                raise Failure(f"{outage}: unaffected resources not converged: "
                              f"{[(r['id'], r['phase'], r.get('message')) for r in bad_other[:5]]}")
            reason = next((r["message"] for r in affected if r["phase"] == "failed"),
                          next((r["message"] for r in affected if "not reachable" in r.get("message", "")), ""))
            cap = max(delays) if delays else 0
            if cap > 300:
                raise Failure(f"{outage}: a retry delay of {cap} s exceeds the 5 min cap")
            outage_len = time.time() - t0
            # The outage ends; no trigger: tendd's own retries must converge.
            t1 = time.time()
            log(f"{outage}: ends at {time.strftime('%H:%M:%S')}, after {outage_len:.1f} s")
            if kind == "docker":
                proxy.set("up")
            elif kind == "named":
                site.start_named()
            elif kind == "proxmox":
                pve.admin("DELETE", "/faults")  # also lets go of the hung calls
            else:
                ssh_proxy.set("up")
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
            if cap > 300:
                raise Failure(f"{outage}: a retry delay of {cap} s exceeds the 5 min cap")
            recovered = time.time() - t1
            if kind == "named":
                # named restarted reads the files tend wrote: it serves the newest serial.
                site.check_serials()
                served = site.served_serial("b.test")
                newest = max(v for k, v in site.zone_serials.items() if "/internal/b.test" in k)
                if served != newest:
                    raise Failure(f"named-down: named serves b.test serial {served}, tend wrote {newest}")
            if kind == "proxmox":
                vms = pve.admin("GET", "/vms")
                for v in site.vms:
                    tags = vms[str(v["vmid"])]["config"].get("tags", "")
                    if f"g{site.vm_gen[v['name']]}" not in tags.split(";"):
                        raise Failure(f"{outage}: VM {v['vmid']} has tags {tags!r} after the converge")
            if kind == "ssh":
                far = hosts.hosts[1][2]
                for path, content in site.ssh_hosts[0]["files"].items():
                    r = site.docker("exec", far, "cat", path, check=False)
                    if content not in r.stdout:
                        raise Failure(f"ssh-down: {path} on host far is {r.stdout[-200:]!r} after the converge")
            n, worst, errors, p99 = poll.done()
            if errors or site.proc.poll() is not None:
                raise Failure(f"{outage}: /healthz failed: {errors[:3]}")
            # p99, not max: the test's own polling and the site share the 2 loaded cores.
            if p99 >= a.healthz_p99:
                raise Failure(f"{outage}: /healthz p99 {p99:.1f} ms (< {a.healthz_p99:.0f} ms required; max {worst:.1f} ms)")
            rows.append((outage, len(affected), reason[:90], cap, recovered, worst, n))
            others_txt = (f"the others ready {others_at:.1f} s after the change" if others_at is not None
                          else "the others converged")
            log(f"ok: {outage} ({time.time() - t0:.0f} s): {len(affected)} affected failed/blocked ({reason[:110]}) {shown_at:.1f} s "
                f"into a {outage_len:.1f} s outage, {others_txt}, longest retry delay {cap:.0f} s, "
                f"converged {recovered:.1f} s after recovery without a trigger, /healthz p99 {p99:.1f} ms, "
                f"max {worst:.1f} ms over {n} polls")
        log(f"PASS: {', '.join(scenarios)} ({time.time() - t_start:.0f} s in all)")
        if skipped:
            log(f"SKIP: {skipped}")
            return 77
        return 0
    except Failure:
        log(f"tendd log: {site.work}/tendd.log")
        keep = True
        raise
    finally:
        site.stop_tendd(kill=True)
        if hosts:
            hosts.stop()  # before the scratch directory goes: it holds the run's id
        if pve:
            pve.stop()
        if ssh_proxy:
            ssh_proxy.close()
        proxy.close()
        site.cleanup(keep=a.keep or locals().get("keep", False))


if __name__ == "__main__":
    main_guard(main)
