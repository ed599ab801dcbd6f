#!/usr/bin/env python3
"""kill -9 tendd at seeded random points of a converge, and check what survives.

    bench/crash_test.py BUILD [--points N] [--seed S] [--apps A] [--per-app C] [--max-delay SEC]
                              [--vms V] [--host-files F] [--task-seconds MIN,MAX]

The site (bench/reliability_lib.py): A apps x C containers (default 6 x 5 = 30) on the local
Docker Engine, each app with a named volume and its default network, two DNS domains in two
views (4 zones) on a private named. With --vms V (default 3; 0: none) a Proxmox template and V
VMs cloned from it on the Proxmox VE API emulator (tests/fixtures/proxmox), its tasks lasting a
random MIN..MAX seconds per point (default 0.5..2), so clones, starts and destroys are in
flight when tendd dies. With --host-files F (default 6; 0: none) the hosts are configured over
SSH: Debian test hosts (tests/fixtures/ssh/test-hosts.sh) play `local` (the Docker host), each
VM's guest, and `far`, which holds a directory and F files.

First tendd converges it. Then, N times: the spec is changed at random (containers replaced,
an app added or pruned, zone contents changed, a container removed by hand; a VM added or
pruned, its tags changed, a VM deleted by hand; files changed, added, pruned, edited or
removed by hand), tendd is started and SIGKILLed after a random delay — or, at half the points
where a VM has to be cloned, as soon as the emulator is asked for the clone (at once, before
tendd recorded the task's UPID, or up to 0.4 s later; those clones last 4 s, so the restart
finds them running) — the database is checked (PRAGMA
integrity_check) and the zone files (no serial lower than before); sometimes a VM tendd was
making leaves the spec while tendd is down (a push during a restart); tendd is started
again and must converge (every resource ready) with no duplicate docker object or VM, no
orphan (owned and not in the spec: docker objects by their labels, VMs by the mark in their
description or the `tend` tag, files by tend's header line, tend's item records on the host)
and nothing missing; a VM is cloned at most once per time it had to be made (a kill while a
clone runs must not lead to a second clone after the restart: the provider follows the UPID
it kept; a clone tendd never recorded, whose VM also left the spec, can only be pruned by the
first pass after it ends: that pass is run, and noted); no temporary file of an interrupted
write is left next to a managed file. A restart that takes one of tend's own objects for
someone else's (a conflict) fails the run.

Everything random comes from --seed: the same seed replays the same mutations and kill
delays (`crash_test.py BUILD --seed S` reproduces a failure; timing decides exactly which
call a delay interrupts). The VM and file mutations come from their own stream of the seed,
so --vms 0 --host-files 0 replays what a seed did before they existed. Prints one line per
kill point and a summary; exit 1 on the first failure, naming the seed and the point; exit 77
when the SSH test hosts cannot be made here and the rest passed (under CI=true that is a
failure).
"""
import argparse
import json
import os
import random
import re
import shlex
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reliability_lib import (Failure, PveEmulator, Site, TestHosts, Unavailable, log,  # noqa: E402
                             main_guard, run)

CLONE = "POST /nodes/{node}/qemu/{vmid}/clone"
CREATE = "POST /nodes/{node}/qemu"


def mark_of(vm):
    """(resource, environment) of the tend mark in an emulator VM's description, or None."""
    desc = vm["config"].get("description", "")
    m = re.search(r"io\.tend\.resource=(\S+)", desc)
    if not m:
        return None
    e = re.search(r"io\.tend\.environment=(\S+)", desc)
    return m.group(1), e.group(1) if e else ""


class Providers:
    """The Proxmox VMs and the SSH host `far` of the site: their mutations and checks."""

    def __init__(self, site, seed, vms, files, task_seconds):
        self.site = site
        self.rng = random.Random(f"{seed}/providers")
        self.nvms, self.nfiles = vms, files
        self.task_seconds = task_seconds
        self.pve = self.hosts = None
        self.vm_all = []          # every VM the run may use (dicts as Site.vms holds them)
        self.vm_on = set()        # names in the spec
        self.file_gen = {}        # index -> generation, for the files in the spec
        self.file_off = set()     # indices not in the spec
        self.far = None           # (name, address, container) of the test host playing far
        self.dir = f"/srv/tend-{site.id}"
        self.clones = self.creates = 0
        self.killed = {}          # name -> (vmid, state, UPID recorded) of the VMs being made at the kill
        self.unclaimed = None     # vmid of a clone nothing can claim until it ends
        self.skipped = None       # why the hosts over SSH could not be made here

    # ---- setup ----
    def setup(self):
        s = self.site
        if self.nfiles:
            try:
                self.hosts = TestHosts(s.src, s.work, 2 + self.nvms)
            except Unavailable as e:
                if os.environ.get("CI") in ("true", "1"):
                    raise Failure(f"CI=true and the SSH test hosts cannot be made: {e}")
                log(f"note: {e}; the run goes on without hosts over SSH")
                self.skipped = str(e)
                self.nfiles = 0
        if self.hosts:
            s.ssh = {"user": "root", "private_key_file": self.hosts.key,
                     "known_hosts_file": self.hosts.known_hosts, "connect_timeout": "5s"}
            s.local_address = self.hosts.hosts[0][1]
            self.far = self.hosts.hosts[1]
            self.file_gen = {i: 0 for i in range(self.nfiles)}
        if self.nvms:
            self.pve = PveEmulator(s.src, s.work)
            s.proxmox = self.pve.provider()
            s.files["pve-token"] = PveEmulator.SECRET + "\n"
            s.template = self.pve.template()
            # With hosts over SSH each VM is also a host: a test host plays its guest (the VM's
            # address is the test host's).
            self.vm_all = [{"name": f"vm{i}", "vmid": 1001 + i,
                            "ip": self.hosts.hosts[2 + i][1] if self.hosts else f"127.0.50.{10 + i}"}
                           for i in range(self.nvms)]
            self.vm_on = {v["name"] for v in self.vm_all}
        self.apply()

    def cleanup(self):
        if self.pve:
            self.pve.stop()
        if self.hosts:
            self.hosts.stop()

    def describe(self):
        out = []
        if self.nvms:
            out.append(f"a template and {self.nvms} VMs (tasks of {self.task_seconds[0]}..{self.task_seconds[1]} s)")
        if self.hosts:
            out.append(f"{2 + self.nvms} hosts over SSH, {self.nfiles} files on one")
        return ", ".join(out)

    def apply(self):
        """Writes the state of this object into the Site's fields (the spec is written later)."""
        s = self.site
        s.vms = [v for v in self.vm_all if v["name"] in self.vm_on]
        if self.far:
            files = {f"{self.dir}/f{i}.conf": f"file {i} generation {g}\n"
                     for i, g in sorted(self.file_gen.items()) if i not in self.file_off}
            s.ssh_hosts = [{"name": "far", "address": self.far[1], "files": files}]

    # ---- mutations ----
    def far_sh(self, script, check=True):
        return self.site.docker("exec", self.far[2], "sh", "-c", script, check=check, timeout=60)

    def vms_now(self):
        return {int(k): v for k, v in (self.pve.admin("GET", "/vms") or {}).items()}

    def mutate(self):
        """A seeded random change of the VMs and far's files (and drift made by hand); sets the
        Site's fields before it writes the spec. Returns what it did."""
        what = []
        rng = self.rng
        if self.pve:
            # Tasks of this point: a random length, so a kill finds some of them running.
            secs = round(rng.uniform(*self.task_seconds), 2)
            self.pve.admin("POST", "/settings", {"task_seconds": {"*": secs, "qmclone": secs}})
            if rng.random() < 0.35:
                v = rng.choice(self.vm_all)["name"]
                self.vm_on ^= {v}
                what.append(f"add VM {v}" if v in self.vm_on else f"remove VM {v} (prune)")
            on = sorted(self.vm_on)
            if on and rng.random() < 0.5:
                for v in rng.sample(on, rng.randint(1, min(2, len(on)))):
                    self.site.vm_gen[v] = self.site.vm_gen.get(v, 0) + 1
                    what.append(f"retag VM {v}")
            if on and rng.random() < 0.15:
                name = rng.choice(on)
                v = next(x for x in self.vm_all if x["name"] == name)
                if v["vmid"] in self.vms_now():
                    self.pve.admin("DELETE", f"/vms/{v['vmid']}")
                    what.append(f"VM {v['vmid']} deleted by hand (drift)")
            what.append(f"tasks {secs} s")
        if self.far:
            on = sorted(set(self.file_gen) - self.file_off)
            if on and rng.random() < 0.6:
                for i in rng.sample(on, rng.randint(1, min(3, len(on)))):
                    self.file_gen[i] += 1
                what.append("files changed")
            if rng.random() < 0.3:
                i = rng.randrange(self.nfiles)
                self.file_off ^= {i}
                what.append(f"file f{i} {'removed (prune)' if i in self.file_off else 'added'}")
            on = sorted(set(self.file_gen) - self.file_off)
            if on and rng.random() < 0.2:
                i = rng.choice(on)
                self.far_sh(f"echo edited >>{self.dir}/f{i}.conf", check=False)
                what.append(f"f{i} edited by hand (drift)")
            if on and rng.random() < 0.1:
                i = rng.choice(on)
                self.far_sh(f"rm -f {self.dir}/f{i}.conf", check=False)
                what.append(f"f{i} removed by hand (drift)")
        self.apply()
        return ", ".join(what)

    def counters(self):
        """Clone and create calls the emulator has seen so far."""
        if not self.pve:
            return
        req = self.pve.admin("GET", "/counters")["requests"]
        self.clones, self.creates = req.get(CLONE, 0), req.get(CREATE, 0)

    def to_make(self):
        """Names of the VMs in the spec that do not exist now: each needs one clone."""
        if not self.pve:
            return []
        have = self.vms_now()
        return [v["name"] for v in self.site.vms if v["vmid"] not in have]

    def at_kill(self, making):
        """What tendd left of the VMs it was making when it died: the VM (absent, its clone
        running, made) and whether the clone's UPID is in the state database."""
        if not making:
            return ""
        con = sqlite3.connect(f"file:{self.site.db}?mode=ro", uri=True)
        try:
            priv = {rid: json.loads(d or "{}") for rid, d in
                    con.execute("SELECT id, owner_data FROM resources WHERE kind = 'vm'")}
        finally:
            con.close()
        have = self.vms_now()
        out = []
        self.killed = {}
        for name in making:
            vmid = next(v["vmid"] for v in self.vm_all if v["name"] == name)
            task = (priv.get(f"vm/{name}") or {}).get("task") or {}
            recorded = task.get("op") == "clone" and task.get("vmid") == vmid
            vm = have.get(vmid)
            state = "absent" if vm is None else ("cloning" if vm["config"].get("lock") == "clone" else "cloned")
            self.killed[name] = (vmid, state, recorded)
            out.append(f"{name} {state}" + (", UPID recorded" if recorded else
                                            ", UPID not recorded" if state == "cloning" else ""))
        return " [" + "; ".join(out) + "]"

    def while_down(self, making):
        """Sometimes the spec changes while tendd is down: a VM it was making leaves the spec
        (its clone may still run). Returns what changed."""
        if not making or self.rng.random() >= 0.3:
            return ""
        name = self.rng.choice(making)
        self.vm_on.discard(name)
        self.apply()
        self.site.write_spec()
        vmid, state, recorded = self.killed.get(name, (0, "", False))
        if state == "cloning" and not recorded:
            # Nothing says whose that clone is until it ends (no mark, no recorded task): the
            # first pass after it ends prunes it.
            self.unclaimed = vmid
        return f"; while down: remove VM {name}"

    def prune_unclaimed(self, site):
        """A clone left by a kill before its UPID was recorded, whose VM left the spec while
        tendd was down, is pruned by the first pass after the clone ends: that pass is run here
        (reconcile --now), after waiting for the clone. Returns a note, or ""."""
        vmid, self.unclaimed = self.unclaimed, None
        if not vmid:
            return ""
        t0 = time.time()
        while time.time() - t0 < 30 and (self.vms_now().get(vmid) or {}).get("config", {}).get("lock") == "clone":
            time.sleep(0.2)
        if vmid not in self.vms_now():
            return ""
        site.converge()
        return (f"  note: VM {vmid} (its clone's UPID not recorded, its VM gone from the spec while tendd was down) "
                f"pruned by the next pass, {time.time() - t0:.1f} s after the converge")

    # ---- checks ----
    def owned_vms(self):
        """{resource id or None (no mark): [vmid]} of the VMs tend marked, tagged `tend` or
        that hold a lock (a clone or create in flight carries no mark until it ends); every
        VM on this emulator is the run's own."""
        out = {}
        for vmid, v in self.vms_now().items():
            mark = mark_of(v)
            tags = v["config"].get("tags", "").split(";")
            if mark and mark[1] not in ("", self.site.id):
                continue
            if mark or "tend" in tags or v["config"].get("lock"):
                out.setdefault(mark[0] if mark else None, []).append(vmid)
        return out

    def slow_clones(self, seconds=4.0):
        """Clones of this point last `seconds`: killed at its clone call, tendd restarts while
        the clone still runs."""
        self.pve.admin("POST", "/settings", {"task_seconds": {"qmclone": seconds}})

    def wait_clone_call(self, timeout):
        """Returns as soon as the emulator has been asked for a clone (seconds waited), or
        None after `timeout`."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.pve.admin("GET", "/counters")["requests"].get(CLONE, 0) > self.clones:
                return time.time() - t0
            time.sleep(0.005)
        return None

    def check_vms(self, expected, made_before, creates=0, settle=15.0):
        """No duplicate VM for a resource, no orphan, nothing missing, every VM as its spec
        says; and the emulator saw at most one clone per VM that had to be made (and
        `creates` creates)."""
        if not self.pve:
            return ""
        t0 = time.time()
        while True:
            owned = self.owned_vms()
            late = sorted(str(k) for k in owned if k not in expected)
            if not late or time.time() - t0 > settle:
                break
            time.sleep(0.2)
        if late:
            raise Failure(f"orphan VMs (owned, not in the spec; None: no mark): "
                          f"{ {k: owned[k] for k in owned if k not in expected} }")
        dups = {k: v for k, v in owned.items() if len(v) > 1}
        if dups:
            raise Failure(f"duplicate VMs for one resource: {dups}")
        want = {f"vm/{v['name']}": v for v in self.site.vms}
        missing = sorted(i for i in expected if i.split("/")[0] in ("vm", "template") and i not in owned)
        if missing:
            raise Failure(f"VMs missing after converge: {missing}")
        vms = self.vms_now()
        for rid, v in want.items():
            got = owned[rid][0]
            conf = vms[got]
            tags = conf["config"].get("tags", "").split(";")
            gen = f"g{self.site.vm_gen.get(v['name'], 0)}"
            if got != v["vmid"] or conf["status"] != "running" or conf["config"].get("lock") or \
                    "tend" not in tags or gen not in tags:
                raise Failure(f"{rid}: not as the spec says (vmid {v['vmid']}, running, tags tend;{gen}): "
                              f"vmid {got}, {conf['status']}, lock {conf['config'].get('lock')}, tags {tags}")
        before = (self.clones, self.creates)
        self.counters()
        clones = self.clones - before[0]
        if clones > made_before:
            raise Failure(f"{clones} clone calls for {made_before} VMs that had to be made: a VM was cloned twice")
        if self.creates - before[1] > creates:
            raise Failure(f"{self.creates - before[1]} create calls (POST /qemu), {creates} expected")
        return f", {len(want)} VMs ({clones} cloned)"

    def check_files(self, expected):
        """Files with tend's header only where the spec names them, each as the spec says;
        tend's item records on far only for items in the spec; no temporary file of an
        interrupted write left."""
        if not self.far:
            return ""
        r = self.far_sh("grep -rl 'managed by tend (' /etc /srv /opt /usr/local /root 2>/dev/null; "
                        f"echo '--'; ls -A {self.dir} 2>/dev/null; echo '--'; "
                        "cat /var/lib/tend/items/* 2>/dev/null; echo '--'; ls -A /var/lib/tend/items 2>/dev/null",
                        check=False)
        parts = r.stdout.split("--\n")
        if len(parts) != 4:
            raise Failure(f"far: unexpected listing: {r.stdout[-500:]} {r.stderr[-500:]}")
        headed, listing, records, record_files = (p.split("\n") for p in parts)
        want = {p: c for p, c in self.site.ssh_hosts[0]["files"].items()}
        bad = []
        for path in filter(None, headed):
            fid = f"host/far/file:{path}"
            if path not in want or fid not in expected:
                bad.append(path)
        if bad:
            raise Failure(f"far: files with tend's header the spec does not name: {bad}")
        debris = [f for f in filter(None, listing) if f.startswith(".")]
        debris += [f"/var/lib/tend/items/{f}" for f in filter(None, record_files) if f.endswith(".tmp")]
        if debris:
            raise Failure(f"far: temporary files of an interrupted write left behind: {debris}")
        ids = [line.split("\t")[0] for line in records if line.strip()]
        strays = sorted(i for i in ids if i not in expected)
        if strays:
            raise Failure(f"far: tend's item records for items not in the spec: {strays}")
        got = self.far_sh("for f in " + " ".join(shlex.quote(p) for p in sorted(want)) +
                          "; do printf '==%s\\n' \"$f\"; cat \"$f\"; done", check=False).stdout
        for path, content in want.items():
            head = f"# managed by tend (host/far/file:{path}): changes made here are overwritten\n"
            m = re.search(rf"^=={re.escape(path)}\n(.*?)(?=^==/|\Z)", got, re.S | re.M)
            if not m or m.group(1) != head + content:
                raise Failure(f"far: {path} is not as the spec says: {m.group(1)[:200] if m else 'absent'!r}")
        return f", {len(want)} files on far"


def start(site):
    """site.start_tendd(), saying who holds the port when tendd cannot listen."""
    try:
        site.start_tendd()
    except Failure as e:
        with open(os.path.join(site.work, "tendd.log")) as f:
            tail = f.read()[-2000:]
        if "Address already in use" in tail:
            holders = run(["ss", "-tanp", f"sport = :{site.port}"], check=False).stdout.strip()
            raise Failure(f"{e}: 127.0.0.1:{site.port} is in use:\n{holders}")
        raise


def converge(site):
    """site.converge(); when the first reconcile --now --wait after a restart does not end
    with every resource ready, returns what was not (a resource that was mid-replace when
    tendd died may need its retry), else None. A conflict — tend refusing an object as not
    its own — is a failure: every object here is tend's."""
    rc, out = site.reconcile_wait()
    if rc == 0:
        return None
    bad = [f"{r['id']}: {r['phase']} {r.get('message', '')}" for r in site.status()["resources"]
           if r["phase"] != "ready"]
    conflicts = [b for b in bad if "conflict" in b or "not managed by tend" in b]
    if conflicts:
        raise Failure("after the restart tend takes its own objects for someone else's: " + "; ".join(conflicts))
    site.converge()
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--apps", type=int, default=6)
    ap.add_argument("--per-app", type=int, default=5)
    ap.add_argument("--max-delay", type=float, default=6.0, help="latest kill, seconds after start")
    ap.add_argument("--vms", type=int, default=3, help="Proxmox VMs on the API emulator (0: no Proxmox)")
    ap.add_argument("--host-files", type=int, default=6,
                    help="files on a host configured over SSH (0: no hosts over SSH)")
    ap.add_argument("--task-seconds", default="0.5,2", help="MIN,MAX: the emulator's task length per point")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory and objects")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    site = Site(a.src, os.path.abspath(a.build), apps=a.apps, per_app=a.per_app)
    lo, _, hi = a.task_seconds.partition(",")
    prov = Providers(site, seed, a.vms, a.host_files, (float(lo), float(hi or lo)))
    log(f"crash test: seed {seed}, {a.points} kill points, {a.apps * a.per_app} containers, "
        f"{a.vms} VMs, {a.host_files} files over SSH, environment {site.id}, work {site.work}")
    t0 = time.time()
    point = 0
    try:
        prov.setup()
        site.setup()
        to_make = len(prov.to_make())
        start(site)
        t = time.time()
        site.converge()
        expected = site.expected_ids()
        n = site.check_objects(expected)
        site.check_serials()
        extra = prov.check_vms(expected, to_make, creates=1) + prov.check_files(expected)
        log(f"first converge: {n} containers{extra} in {time.time() - t:.1f} s, {len(expected)} resources"
            + (f" ({prov.describe()})" if prov.describe() else ""))
        site.stop_tendd()
        kills_mid = 0
        for point in range(1, a.points + 1):
            what = prov.mutate()
            what = site.mutate(rng) + (f"; {what}" if what else "")
            delay = rng.uniform(0.05, a.max_delay)
            expected = site.expected_ids()
            making = prov.to_make()
            to_make = len(making)
            # Half the points that clone a VM kill tendd as soon as the emulator is asked for
            # the clone: before or just after tendd recorded the task's UPID.
            on_clone = to_make > 0 and prov.rng.random() < 0.5
            if on_clone:
                prov.slow_clones()
            start(site)
            if on_clone:
                # At once (before tendd has recorded the task's UPID, mostly) or a little later
                # (recorded, the clone still running).
                after = prov.rng.choice((0.0, round(prov.rng.uniform(0.05, 0.4), 2)))
                waited = prov.wait_clone_call(a.max_delay + 30)
                if waited is None:
                    raise Failure(f"no clone call within {a.max_delay + 30:.0f} s of the start")
                time.sleep(after)
                delay = waited + after
                what += ", killed at the clone call" + (f" + {after} s" if after else "")
            else:
                time.sleep(delay)
            busy = site.proc.poll() is None
            site.kill9()
            site.integrity()
            site.check_serials()
            what += prov.at_kill(making)
            down = prov.while_down(making)
            if down:
                what += down
                expected = site.expected_ids()
            # The status a restarted tendd shows before its first run ends: what was recorded.
            start(site)
            t = time.time()
            retried = converge(site)
            took = time.time() - t
            if retried:
                log(f"  note: the first reconcile after the restart left {len(retried)} not ready: "
                    + "; ".join(retried[:5]))
            note = prov.prune_unclaimed(site)
            if note:
                log(note)
            n = site.check_objects(expected)
            extra = prov.check_vms(expected, to_make) + prov.check_files(expected)
            zones = site.check_serials()
            site.integrity()
            served = site.served_serial("a.test")
            kills_mid += 1
            log(f"point {point:3d}: kill -9 at {delay:4.2f} s ({what}) -> converged in {took:4.1f} s, "
                f"{n} containers{extra}, {zones} zones (a.test serial {served}), integrity ok")
            if not busy:
                raise Failure("tendd had already exited before the kill")
            site.stop_tendd()
        log(f"PASS: seed {seed}: {a.points} kill points, no duplicate, no orphan, no serial lower "
            f"than before, integrity_check ok ({time.time() - t0:.0f} s)")
        if prov.skipped:
            log(f"SKIPPED in part: the hosts over SSH were not run ({prov.skipped})")
            return 77
        return 0
    except Failure as e:
        log(f"FAIL at point {point} (reproduce: bench/crash_test.py {a.build} --seed {seed} "
            f"--points {a.points} --apps {a.apps} --per-app {a.per_app} --max-delay {a.max_delay} "
            f"--vms {a.vms} --host-files {a.host_files} --task-seconds {a.task_seconds}): {e}")
        log(f"tendd log: {site.work}/tendd.log")
        a.keep = True
        return 1
    finally:
        # The test hosts first: their run id is in the scratch directory.
        prov.cleanup()
        site.cleanup(keep=a.keep)


if __name__ == "__main__":
    main_guard(main)
