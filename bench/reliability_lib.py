"""Shared pieces of tend's reliability runs (bench/crash_test.py, bench/outage_test.py,
bench/bad_commits.py): a scratch site on the local Docker Engine and a private named, tendd
started and stopped by pid, and the checks every run makes (no duplicate, no orphan, zone
serials that never go back, PRAGMA integrity_check).

Everything stays on loopback; every object carries the run's own environment name
(io.tend.environment=ID) and is removed at the end. Only processes started here are killed.
"""
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(cmd, check=True, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r


class Failure(Exception):
    pass


class Site:
    """A spec directory with APPS apps of PER_APP containers (one named volume and the
    default network each), two DNS domains in two views (four zones) served by a private
    named, and an optional app `extra` (two containers, no volume) toggled in and out to
    exercise prune. `gen` holds a generation number per container: bumping one changes the
    container's spec (a replace)."""

    def __init__(self, src, build, apps=6, per_app=5, docker_host="unix:/var/run/docker.sock",
                 docker_cli_env=None, work=None):
        self.src, self.build = src, build
        self.tendd = os.path.join(build, "daemon", "tendd")
        self.tendctl = os.path.join(build, "daemon", "tendctl")
        self.id = "rel" + os.urandom(4).hex()
        self.work = work or tempfile.mkdtemp(prefix="tend-rel-")
        self.spec = os.path.join(self.work, "spec")
        self.var = os.path.join(self.work, "var")
        self.bind = os.path.join(self.work, "bind")
        os.makedirs(self.spec, exist_ok=True)
        os.makedirs(self.var, exist_ok=True)
        os.makedirs(os.path.join(self.bind, "conf"), exist_ok=True)
        self.db = os.path.join(self.var, "tend.db")
        self.sock = os.path.join(self.var, "tendd.sock")
        self.port = free_port()
        self.dns_port, self.rndc_port = free_port(), free_port()
        self.image = f"tend-test/busybox:{self.id}"
        self.apps, self.per_app = apps, per_app
        self.docker_host = docker_host
        self.docker_env = dict(os.environ, **(docker_cli_env or {}))
        self.gen = {(a, c): 0 for a in range(apps) for c in range(per_app)}
        self.extra = False
        self.expose_b = set()  # apps whose name is also published in b.test
        self.proc = None
        self.logf = None
        self.named_started = False
        self.zone_serials = {}  # zone file -> highest serial seen

    # ---- setup / teardown ----
    def docker(self, *args, check=True, timeout=120):
        return run(["docker", *args], check=check, timeout=timeout, env=self.docker_env)

    def setup(self, named=True):
        run(["bash", os.path.join(self.src, "tests/fixtures/docker/make-busybox-image.sh"), self.image],
            env=self.docker_env, timeout=300)
        key = os.path.join(self.bind, "rndc.key")
        run(["bash", os.path.join(self.src, "tests/fixtures/bind9/local-named.sh"), "key", self.bind, key])
        frag = os.path.join(self.bind, "conf", "named.conf.tend")
        if not os.path.exists(frag):
            # named refuses a missing include; tend replaces this marked bootstrap on its first pass.
            with open(frag, "w") as f:
                f.write("// managed by tend: resource dnsconf/local (bootstrap, empty until the first pass)\n")
        self.write_spec()
        if named:
            self.start_named()

    def start_named(self):
        run(["bash", os.path.join(self.src, "tests/fixtures/bind9/local-named.sh"), "start", self.bind,
             os.path.join(self.bind, "conf", "named.conf.tend"), str(self.dns_port), str(self.rndc_port),
             os.path.join(self.bind, "rndc.key")], timeout=60)
        self.named_started = True

    def stop_named(self):
        run(["bash", os.path.join(self.src, "tests/fixtures/bind9/local-named.sh"), "stop", self.bind],
            check=False)

    def cleanup(self, keep=False):
        self.stop_tendd(kill=True)
        if self.named_started:
            self.stop_named()
        label = f"label=io.tend.environment={self.id}"
        for kind, rm in (("ps -aq", ["rm", "-f"]), ("network ls -q", ["network", "rm"]),
                         ("volume ls -q", ["volume", "rm", "-f"])):
            ids = self.docker(*kind.split(), "--filter", label, check=False).stdout.split()
            if ids:
                self.docker(*rm, *ids, check=False)
        self.docker("image", "rm", self.image, check=False)
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- the spec ----
    def app_name(self, a):
        # Docker names are global: the run's id keeps concurrent runs apart.
        return f"{self.id}a{a}"

    def write_spec(self):
        env = f"""environment: {self.id}
network: {{ cidr: 127.0.0.0/8 }}
reconcile:
  interval: 1h
  prune: true
providers:
  docker: {{ transport: "{self.docker_host}" }}
  bind9:
    server: local
    conf_dir: {self.bind}/conf
    rndc: {{ server: 127.0.0.1, port: {self.rndc_port}, key_file: {self.bind}/rndc.key }}
dns:
  domains: [a.test, b.test]
  views:
    internal: {{ match_clients: [127.0.0.1] }}
    external: {{ match_clients: [any], address: 192.0.2.10 }}
"""
        hosts = "hosts:\n  local: { address: 127.0.0.1 }\n"
        apps = ["apps:"]
        names = [(a, self.app_name(a)) for a in range(self.apps)]
        for a, name in names:
            apps.append(f"  {name}:\n    host: local\n    expose:")
            apps.append(f"      - {{ name: {name}, domain: a.test, port: {20000 + a} }}")
            if a in self.expose_b:
                apps.append(f"      - {{ name: {name}, domain: b.test, port: {20000 + a} }}")
            apps.append("    containers:")
            for c in range(self.per_app):
                vol = '\n        volumes: ["data:/data"]' if c == 0 else ""
                apps.append(f"""      c{c}:
        image: {self.image}
        command: [sleep, "2147483647"]
        stop_grace_period: 1s
        environment: {{ GEN: "{self.gen[(a, c)]}" }}{vol}""")
        if self.extra:
            apps.append(f"  {self.id}x:\n    host: local\n    containers:")
            for c in range(2):
                apps.append(f"      e{c}:\n        image: {self.image}\n        command: [sleep, \"2147483647\"]\n"
                            f"        stop_grace_period: 1s")
        for fn, text in (("environment.yml", env), ("hosts.yml", hosts), ("apps.yml", "\n".join(apps) + "\n")):
            tmp = os.path.join(self.spec, fn + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(self.spec, fn))

    def expected_ids(self):
        r = run([self.tendctl, "plan", "--offline", self.spec, "--output", "json"], timeout=60)
        return {row["id"] for row in json.loads(r.stdout)}

    def mutate(self, rng):
        """A seeded random change of the spec (and sometimes drift made by hand): what the
        next converge has to do. Returns a one-line description."""
        what = []
        k = rng.randint(2, max(3, len(self.gen) // 3))
        for key in rng.sample(sorted(self.gen), k):
            self.gen[key] += 1
        what.append(f"replace {k} containers")
        if rng.random() < 0.4:
            self.extra = not self.extra
            what.append("add app extra" if self.extra else "remove app extra (prune)")
        if rng.random() < 0.5:
            a = rng.randrange(self.apps)
            self.expose_b ^= {a}
            what.append(f"toggle {self.app_name(a)}.b.test (zones change)")
        self.write_spec()
        if rng.random() < 0.3:
            a, c = rng.randrange(self.apps), rng.randrange(self.per_app)
            self.docker("rm", "-f", f"{self.app_name(a)}-c{c}", check=False)
            what.append(f"docker rm -f {self.app_name(a)}-c{c} (drift)")
        return ", ".join(what)

    # ---- tendd ----
    def start_tendd(self, extra_args=(), env=None):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.logf = open(os.path.join(self.work, "tendd.log"), "a")
        self.logf.write(f"---- start {time.strftime('%H:%M:%S')}\n")
        self.logf.flush()
        self.proc = subprocess.Popen(
            [self.tendd, "--spec", self.spec, "--state", self.db, "--socket", self.sock,
             "--listen", f"127.0.0.1:{self.port}", "--log-level", "info", *extra_args],
            stdout=self.logf, stderr=subprocess.STDOUT, env=env,
            preexec_fn=lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_CORE, (0, 0)))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"tendd exited at start (code {self.proc.returncode}); see {self.logf.name}")
            try:
                if self.get("/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise Failure("tendd did not answer /healthz within 30 s")

    def stop_tendd(self, kill=False):
        if not self.proc or self.proc.poll() is not None:
            self.proc = None
            return None
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def get(self, path, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
            return r.status, r.read()

    def status(self):
        return json.loads(self.get("/v1/status", timeout=30)[1])

    def reconcile_wait(self, timeout=300):
        r = run([self.tendctl, "--socket", self.sock, "reconcile", "--now", "--wait", "-o", "json"],
                check=False, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def converge(self, timeout=300, tries=3):
        """reconcile --now --wait until every resource is ready (a few tries: a resource that
        was mid-replace when tendd died may need its retry)."""
        out = ""
        for _ in range(tries):
            rc, out = self.reconcile_wait(timeout)
            if rc == 0:
                return
            time.sleep(1)
        not_ready = [f"{r['id']}: {r['phase']} {r.get('message', '')}" for r in self.status()["resources"]
                     if r["phase"] != "ready"]
        raise Failure("did not converge: " + out.strip()[-500:] + "\n  " + "\n  ".join(not_ready[:20]))

    # ---- checks ----
    def integrity(self):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        finally:
            con.close()
        if rows != ["ok"]:
            raise Failure(f"PRAGMA integrity_check: {rows[:5]}")

    def owned(self):
        """Owned docker objects: {(kind, resource id): [docker ids]}."""
        out = {}
        label = f"label=io.tend.environment={self.id}"
        fmt = '{{.ID}} {{.Label "io.tend.resource"}}'
        for kind, args in (("container", ["ps", "-a"]), ("network", ["network", "ls"]),
                           ("volume", ["volume", "ls"])):
            f = '{{.Name}} {{.Label "io.tend.resource"}}' if kind == "volume" else fmt
            for line in self.docker(*args, "--filter", label, "--format", f).stdout.splitlines():
                if not line.strip():
                    continue
                did, _, rid = line.partition(" ")
                out.setdefault((kind, rid), []).append(did)
        return out

    def check_objects(self, expected, settle=15.0):
        """Duplicates, orphans, missing objects. Orphans get `settle` seconds to go: a
        `reconcile --wait` can return while the prune of another open run is still deleting
        (seen after restarts, where the startup run and the API run overlap); each such case
        is logged as a note."""
        t0 = time.time()
        waited = False
        while True:
            owned = self.owned()
            late = sorted(rid for (kind, rid) in owned if kind != "volume" and rid not in expected)
            if not late or time.time() - t0 > settle:
                break
            waited = True
            time.sleep(0.2)
        if waited and not late:
            log(f"  note: prune of objects that left the spec finished {time.time() - t0:.1f} s after "
                "reconcile --wait returned")
        dups = {k: v for k, v in owned.items() if len(v) > 1}
        if dups:
            raise Failure(f"duplicate objects: {dups}")
        # Volumes are kept when their app leaves the spec (prune_volumes is false): not orphans.
        orphans = sorted(rid for (kind, rid) in owned if kind != "volume" and rid not in expected)
        if orphans:
            raise Failure(f"orphans (owned, not in the spec): {orphans}")
        missing = sorted(i for i in expected if i.split("/")[0] in ("container", "network", "volume")
                         and not any(rid == i for (_, rid) in owned))
        if missing:
            raise Failure(f"missing after converge: {missing}")
        return sum(1 for (k, _) in owned if k == "container")

    def check_serials(self):
        """Zone files tend wrote: the serial never goes back (RFC 1982 order)."""
        zdir = os.path.join(self.bind, "conf", "zones")
        seen = 0
        for root, _, files in os.walk(zdir):
            for fn in files:
                if not fn.endswith(".zone"):
                    continue
                path = os.path.join(root, fn)
                serial = None
                with open(path, errors="replace") as f:
                    for line in f:
                        if line.rstrip().endswith("; serial"):
                            serial = int(line.split()[0])
                            break
                if serial is None:
                    raise Failure(f"{path}: no serial line (truncated zone file?)")
                prev = self.zone_serials.get(path)
                if prev is not None and serial != prev and ((serial - prev) % 2**32) >= 2**31:
                    raise Failure(f"{path}: serial went back from {prev} to {serial}")
                self.zone_serials[path] = serial if prev is None or serial != prev else prev
                seen += 1
        return seen

    def served_serial(self, zone):
        r = run(["dig", "+short", "-p", str(self.dns_port), "@127.0.0.1", zone, "SOA"], check=False, timeout=10)
        parts = r.stdout.split()
        return int(parts[2]) if len(parts) >= 3 else None


def main_guard(fn):
    try:
        sys.exit(fn())
    except Failure as e:
        log(f"FAIL: {e}")
        sys.exit(1)
