#!/usr/bin/env python3
"""Bad commits pushed to the Git repository a running tendd follows.

    bench/bad_commits.py BUILD [--mutations N] [--seed S]

A bare repository served by `git daemon` on loopback holds a small site (3 apps, 2 containers
each, on the local Docker Engine); tendd follows it (--spec-git, --git-poll 1h) and converges.
Then N times (default 100): a generated mutation of the good spec — a deleted line, a wrong
type, a dependency cycle, a duplicate VM IP, a truncated file, binary junk, a 5 MiB file, a
symlink out of the repository — is committed and pushed, and `tendctl reconcile --now --wait`
(which fetches first) runs. Each must be rejected with a located error (FILE:LINE:COL or the
file named) in /v1/status `spec_error` and in a SpecInvalid event; the revision stays the last
good one and keeps being enforced (a container removed by hand meanwhile is recreated); no
docker object is deleted or replaced. Then a good commit (one container's spec changed) is
pushed and must converge at its revision. Mutations that happen to validate are regenerated
(`tendctl validate` decides). Prints one line per mutation and the count per kind.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reliability_lib import Failure, Site, free_port, log, main_guard, run  # noqa: E402

KINDS = ["deleted-line", "wrong-type", "cycle", "duplicate-ip", "truncated", "binary-junk",
         "5mib-file", "symlink-out"]


def good_files(site_id, image, gen):
    env = f"""environment: {site_id}
network: {{ cidr: 127.0.0.0/8 }}
reconcile:
  interval: 1h
  prune: true
providers:
  docker: {{ transport: "unix:/var/run/docker.sock" }}
templates:
  debian: {{ vmid: 9000, image_url: "https://images.example.test/debian-12.qcow2", cores: 1, memory: 512 }}
"""
    hosts = """hosts:
  local: { address: 127.0.0.1 }
vms:
  web1: { vmid: 101, ip: 127.0.1.1, cores: 1, memory: 512, disk: 8G, template: debian }
  web2: { vmid: 102, ip: 127.0.1.2, cores: 1, memory: 512, disk: 8G, template: debian }
"""
    apps = ["apps:"]
    for a in range(3):
        apps.append(f"  {site_id}a{a}:\n    host: local\n" + (f"    depends_on: [app/{site_id}a0]\n" if a else "") +
                    "    containers:")
        for c in range(2):
            apps.append(f"""      c{c}:
        image: {image}
        command: [sleep, "2147483647"]
        stop_grace_period: 1s
        restart: unless-stopped
        environment: {{ GEN: "{gen if (a, c) == (0, 0) else 0}" }}""")
    return {"environment.yml": env, "hosts.yml": hosts, "apps.yml": "\n".join(apps) + "\n"}


def mutate(kind, files, rng, repo):
    """Applies one mutation of `kind` to the working tree `repo` (files: the good texts)."""
    names = sorted(files)
    if kind == "deleted-line":
        fn = rng.choice(names)
        lines = files[fn].splitlines(keepends=True)
        del lines[rng.randrange(len(lines))]
        return {fn: "".join(lines)}
    if kind == "wrong-type":
        fn, pat, repl = rng.choice([
            ("apps.yml", r"command: \[sleep, \"2147483647\"\]", "command: { sleep: 1 }"),
            ("apps.yml", r"stop_grace_period: 1s", "stop_grace_period: [1, 2]"),
            ("apps.yml", r"restart: unless-stopped", "restart: { always: true }"),
            ("environment.yml", r"interval: 1h", "interval: [1h]"),
            ("environment.yml", r"prune: true", "prune: maybe"),
            ("hosts.yml", r"cores: 1", "cores: many"),
            ("hosts.yml", r"memory: 512", "memory: lots"),
            ("hosts.yml", r"vmid: 101", "vmid: {x: 1}"),
            ("apps.yml", r"host: local", "host: [local]"),
        ])
        text = files[fn]
        spots = [m.start() for m in re.finditer(pat, text)]
        at = rng.choice(spots)
        return {fn: text[:at] + re.sub(pat, repl, text[at:], count=1)}
    if kind == "cycle":
        text = files["apps.yml"]
        if rng.random() < 0.5:  # app0 -> app2 -> app0
            a0 = re.search(r"^  (\S+a0):$", text, re.M).group(1)
            a2 = a0[:-1] + "2"
            text = text.replace(f"  {a0}:\n    host: local\n", f"  {a0}:\n    host: local\n    depends_on: [app/{a2}]\n", 1)
        else:  # containers of one app wait for each other
            text = text.replace("      c0:\n", "      c0:\n        depends_on: [c1]\n", 1)
            text = text.replace("      c1:\n", "      c1:\n        depends_on: [c0]\n", 1)
        return {"apps.yml": text}
    if kind == "duplicate-ip":
        return {"hosts.yml": files["hosts.yml"].replace("ip: 127.0.1.2", "ip: 127.0.1.1")}
    if kind == "truncated":
        fn = rng.choice(names)
        text = files[fn]
        return {fn: text[:rng.randrange(1, len(text) - 1)]}
    if kind == "binary-junk":
        fn = rng.choice(names)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 4096)))
        text = files[fn].encode()
        at = rng.randrange(len(text))
        return {fn: text[:at] + junk + text[at:]}
    if kind == "5mib-file":
        fn = rng.choice(names)
        return {fn: files[fn] + "# padding\n" * (5 * 1024 * 1024 // 10 + 1)}
    if kind == "symlink-out":
        fn = rng.choice(names)
        target = rng.choice(["/etc/passwd", "../../../../../../etc/hostname", "/proc/self/environ"])
        path = os.path.join(repo, "site", fn)
        os.remove(path)
        os.symlink(target, path)
        return {}
    raise ValueError(kind)


def write(repo, files):
    for fn, text in files.items():
        path = os.path.join(repo, "site", fn)
        if os.path.islink(path):
            os.remove(path)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())


def git(repo, *args):
    return run(["git", "-C", repo, *args], timeout=60).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--mutations", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    build = os.path.abspath(a.build)
    site = Site(a.src, build, apps=0, per_app=0)
    tendctl = site.tendctl
    work = site.work
    gitd = None
    counts = collections.Counter()
    log(f"bad commits: seed {seed}, {a.mutations} mutations, environment {site.id}, work {work}")
    try:
        run(["bash", os.path.join(a.src, "tests/fixtures/docker/make-busybox-image.sh"), site.image], timeout=300)
        srv = os.path.join(work, "srv")
        os.makedirs(srv)
        run(["git", "init", "-q", "--bare", "-b", "main", os.path.join(srv, "specs.git")])
        gport = free_port()
        gitd = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={gport}",
                                 f"--base-path={srv}", "--export-all", "--enable=receive-pack", srv],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"git://127.0.0.1:{gport}/specs.git"
        repo = os.path.join(work, "laptop")
        run(["git", "init", "-q", "-b", "main", repo])
        git(repo, "config", "user.email", "t@example.test")
        git(repo, "config", "user.name", "tester")
        os.makedirs(os.path.join(repo, "site"))
        gen = 0
        files = good_files(site.id, site.image, gen)
        write(repo, files)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "good 0")
        for _ in range(100):
            if run(["git", "-C", repo, "push", "-q", url, "main"], check=False).returncode == 0:
                break
            time.sleep(0.1)
        good_rev = git(repo, "rev-parse", "HEAD")
        # tendd follows the repository.
        argv = [site.tendd, "--spec-git", url, "--spec-branch", "main", "--spec-path", "site", "--git-poll", "1h",
                "--state", site.db, "--socket", site.sock, "--listen", f"127.0.0.1:{site.port}"]
        logf = open(os.path.join(work, "tendd.log"), "w")
        site.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if site.get("/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)

        def ready_all():
            st = site.status()
            bad = [f"{r['id']} {r['phase']}: {r.get('message', '')}" for r in st["resources"]
                   if r["phase"] != "ready" and r["id"].startswith(("container/", "network/", "image/"))]
            return st, bad

        def converge(rev):
            for _ in range(4):
                site.reconcile_wait(timeout=180)
                st, bad = ready_all()
                if st["revision"] == rev and not bad:
                    return st
                time.sleep(1)
            raise Failure(f"did not converge at {rev}: revision {st['revision']}, not ready: {bad[:5]}")

        converge(good_rev)

        def containers():
            out = site.docker("ps", "-a", "--filter", f"label=io.tend.environment={site.id}",
                              "--format", "{{.ID}} {{.Names}}").stdout.split("\n")
            return dict(reversed(l.split()) for l in out if l.strip())

        before = containers()
        if len(before) != 6:
            raise Failure(f"expected 6 containers, found {before}")
        log(f"good commit {good_rev[:8]} converged: {len(before)} containers")
        last_event = max([e["id"] for e in json.loads(site.get("/v1/events?since=0")[1])] or [0])
        t0 = time.time()
        for i in range(1, a.mutations + 1):
            kind = KINDS[(i - 1) % len(KINDS)] if i <= len(KINDS) else rng.choice(KINDS)
            # Regenerate until it really is invalid (a deleted blank line validates).
            for attempt in range(30):
                write(repo, files)
                git(repo, "checkout", "-q", "--", ".")
                changed = mutate(kind, files, rng, repo)
                write(repo, changed)
                v = run([tendctl, "validate", os.path.join(repo, "site")], check=False, timeout=60)
                if v.returncode != 0:
                    break
            else:
                raise Failure(f"could not make an invalid {kind} mutation")
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", f"bad {i}: {kind}")
            git(repo, "push", "-q", "-f", url, "main")
            bad_rev = git(repo, "rev-parse", "HEAD")
            # Drift while the bad commit is the newest one: the last good revision is enforced.
            victim = rng.choice(sorted(before))
            if i % 3 == 0:
                site.docker("rm", "-f", victim, check=False)
            site.reconcile_wait(timeout=180)
            st = site.status()
            if st["revision"] != good_rev:
                raise Failure(f"{kind}: revision {st['revision']} applied, want the last good {good_rev}")
            err = st.get("spec_error")
            err_text = "\n".join(err) if isinstance(err, list) else str(err or "")
            if not err_text:
                raise Failure(f"{kind}: no spec_error in /v1/status")
            if not re.search(r"(environment|hosts|apps)\.yml(:\d+:\d+)?: ", err_text):
                raise Failure(f"{kind}: spec_error not located: {err_text[:300]}")
            evs = json.loads(site.get(f"/v1/events?since={last_event}")[1])
            inval = [e for e in evs if e.get("reason") == "SpecInvalid"]
            if not inval:
                raise Failure(f"{kind}: no SpecInvalid event")
            last_event = max(e["id"] for e in evs)
            st, bad = ready_all()
            now = containers()
            if i % 3 == 0:
                if bad:
                    raise Failure(f"{kind}: not enforced after drift: {bad[:3]}")
                gone = {n for n in before if n not in now}
                if gone:
                    raise Failure(f"{kind}: {gone} not recreated while a bad commit was the newest")
                before = now
            elif now != before:
                raise Failure(f"{kind}: docker objects changed under a bad commit: {before} -> {now}")
            first = err_text.splitlines()[0]
            counts[kind] += 1
            # The next good commit converges.
            gen += 1
            files = good_files(site.id, site.image, gen)
            for fn in files:
                p = os.path.join(repo, "site", fn)
                if os.path.islink(p):
                    os.remove(p)
            write(repo, files)
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", f"good {gen}")
            git(repo, "push", "-q", "-f", url, "main")
            good_rev = git(repo, "rev-parse", "HEAD")
            st = converge(good_rev)
            if st.get("spec_error"):
                raise Failure(f"spec_error still set after the good commit: {st['spec_error']}")
            before = containers()
            if len(before) != 6:
                raise Failure(f"after good commit {gen}: {len(before)} containers")
            log(f"{i:3d} {kind:<13} rejected ({first[:110]}) -> good {good_rev[:8]} converged")
        log(f"PASS: seed {seed}: {a.mutations} bad commits rejected with located errors, last good "
            f"revision enforced, nothing deleted, every next good commit converged "
            f"({time.time() - t0:.0f} s); by kind: {dict(counts)}")
        return 0
    finally:
        site.stop_tendd()
        if gitd:
            gitd.terminate()
            gitd.wait()
        site.cleanup()


if __name__ == "__main__":
    main_guard(main)
