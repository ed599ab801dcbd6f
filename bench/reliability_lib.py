"""Shared pieces of tend's reliability runs (bench/crash_test.py, bench/outage_test.py,
bench/bad_commits.py): a scratch site on the local Docker Engine and a private named, tendd
started and stopped by pid, and the checks every run makes (no duplicate, no orphan, zone
serials that never go back, PRAGMA integrity_check). Optionally the site also has Proxmox VMs
(on the API emulator, PveEmulator) and hosts configured over SSH (the Debian test hosts,
TestHosts).

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
        # Optional providers (None: not in the spec). proxmox / ssh: the provider's section as
        # a dict (written as JSON, which is YAML); files: extra files of the spec directory.
        self.proxmox = None
        self.ssh = None
        self.files = {}
        self.local_address = "127.0.0.1"
        self.template = None   # dict of templates.base when VMs are used
        self.vms = []          # dicts: name, vmid, ip
        self.vm_gen = {}       # name -> generation (a tag: bumping it changes the VM's config)
        self.ssh_hosts = []    # dicts: name, address, ssh_port (optional), files {path: content}

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
        # With providers.ssh the bind9 provider would reach named's host over SSH by default:
        # the private named's files are on this machine.
        bind_transport = "\n    transport: local" if self.ssh else ""
        gateway = ", gateway: 127.0.0.1" if self.vms else ""
        env = f"""environment: {self.id}
network: {{ cidr: 127.0.0.0/8{gateway} }}
reconcile:
  interval: 1h
  prune: true
providers:
  docker: {{ transport: "{self.docker_host}" }}
  bind9:
    server: local{bind_transport}
    conf_dir: {self.bind}/conf
    rndc: {{ server: 127.0.0.1, port: {self.rndc_port}, key_file: {self.bind}/rndc.key }}
"""
        for name in ("proxmox", "ssh"):
            if getattr(self, name):
                env += f"  {name}: {json.dumps(getattr(self, name))}\n"
        env += """dns:
  domains: [a.test, b.test]
  views:
    internal: { match_clients: [127.0.0.1] }
    external: { match_clients: [any], address: 192.0.2.10 }
"""
        if self.template:
            env += f"templates:\n  base: {json.dumps(self.template)}\n"
        hosts = f"hosts:\n  local: {{ address: {self.local_address} }}\n"
        groups = []
        for h in self.ssh_hosts:
            port = f", ssh_port: {h['ssh_port']}" if h.get("ssh_port") else ""
            grp = f", groups: [{h['name']}]" if h.get("files") else ""
            hosts += f"  {h['name']}: {{ address: {h['address']}{port}{grp} }}\n"
            if h.get("files"):
                dirs = sorted({os.path.dirname(f) for f in h["files"]})
                groups.append(f"  {h['name']}:\n    directories:")
                groups += [f'      {d}: {{ mode: "0755" }}' for d in dirs]
                groups.append("    files:")
                groups += [f'      {f}: {{ content: {json.dumps(c)}, mode: "0644" }}'
                           for f, c in sorted(h["files"].items())]
        if self.vms:
            hosts += "vms:\n"
            for v in self.vms:
                hosts += (f"  {v['name']}: {{ vmid: {v['vmid']}, template: base, ip: {v['ip']}, cores: 1, "
                          f"memory: 512, tags: [g{self.vm_gen.get(v['name'], 0)}] }}\n")
        if groups:
            hosts += "groups:\n" + "\n".join(groups) + "\n"
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
        out = dict(self.files)
        out.update({"environment.yml": env, "hosts.yml": hosts, "apps.yml": "\n".join(apps) + "\n"})
        for fn, text in out.items():
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


class PveEmulator:
    """The Proxmox VE API emulator (tests/fixtures/proxmox/pve_emulator.py) on 127.0.0.1, started
    and stopped by its pid; faults and state through its /_admin routes."""

    TOKEN_ID, SECRET = "tend@pve!rel", "5ecret-rel-token"
    IMAGE = "https://images.example/noble-server-cloudimg-amd64.img"
    SHA256 = "9b1c1d3f0a3e6c2b5d4e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c"

    def __init__(self, src, work):
        self.dir = os.path.join(work, "pve")
        os.makedirs(self.dir, exist_ok=True)
        self.logf = open(os.path.join(work, "pve.log"), "a")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(src, "tests/fixtures/proxmox/pve_emulator.py"), "--listen", "127.0.0.1",
             "--port", "0", "--dir", self.dir, "--token", f"{self.TOKEN_ID}={self.SECRET}", "--auth-delay", "0.2",
             "--task-seconds", "0.1", "--nodes", "pve"], stdout=self.logf, stderr=subprocess.STDOUT)
        ready = os.path.join(self.dir, "ready.json")
        deadline = time.time() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise Failure(f"the Proxmox emulator did not start (see {self.logf.name})")
            time.sleep(0.05)
        with open(ready) as f:
            r = json.load(f)
        self.port, self.fingerprint = r["port"], r["fingerprint"]
        self.admin("POST", "/images", {"url": self.IMAGE, "sha256": self.SHA256, "size": 1 << 30})

    def admin(self, method, path, body=None):
        import ssl
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}/_admin{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, context=ssl._create_unverified_context(), timeout=10) as r:
            return json.loads(r.read() or b"{}").get("data")

    def provider(self, secret_file="pve-token"):
        """providers.proxmox for a spec whose directory holds SECRET in `secret_file`."""
        return {"endpoint": f"https://127.0.0.1:{self.port}", "node": "pve", "token_id": self.TOKEN_ID,
                "token_secret_file": secret_file, "tls": {"fingerprint": self.fingerprint}}

    def template(self):
        return {"vmid": 9000, "image_url": self.IMAGE, "sha256": self.SHA256, "cores": 1, "memory": 512}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Unavailable(Exception):
    """A part of the run cannot be made on this machine (the caller reports it skipped)."""


class TestHosts:
    """Debian containers running sshd on 127.2.0.x:22 (tests/fixtures/ssh/test-hosts.sh):
    `hosts` is a list of (name, address, container); the run's client key and known_hosts are
    in `dir`."""

    def __init__(self, src, work, count):
        self.script = os.path.join(src, "tests/fixtures/ssh/test-hosts.sh")
        self.dir = os.path.join(work, "ssh-hosts")
        r = run(["bash", self.script, "start", self.dir, str(count)], check=False, timeout=900)
        if r.returncode == 77:
            raise Unavailable("SSH test hosts cannot be made here: " + r.stderr.strip()[-300:])
        if r.returncode != 0:
            self.stop()
            raise Failure(f"test-hosts.sh start exited {r.returncode}: {r.stderr.strip()[-1000:]}")
        with open(os.path.join(self.dir, "hosts")) as f:
            self.hosts = [tuple(line.split()[:3]) for line in f if line.strip()]
        self.key = os.path.join(self.dir, "id_ed25519")
        self.known_hosts = os.path.join(self.dir, "known_hosts")

    def host_key(self, address):
        """The known_hosts key ("TYPE BASE64") of the host at `address`."""
        with open(self.known_hosts) as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == address:
                    return " ".join(parts[1:3])
        raise Failure(f"no known_hosts line for {address}")

    def add_known(self, address, port, key):
        """Records `key` for ADDRESS:PORT (a proxy in front of a host)."""
        with open(self.known_hosts, "a") as f:
            f.write(f"[{address}]:{port} {key}\n")

    def stop(self):
        run(["bash", self.script, "stop", self.dir], check=False, timeout=120)


def main_guard(fn):
    try:
        sys.exit(fn())
    except Failure as e:
        log(f"FAIL: {e}")
        sys.exit(1)
