#!/usr/bin/env python3
"""Mutation testing by hand: does each component's own Catch binary notice a small bug?

Each mutation in bench/mutations.txt names a file, a literal text in it and its replacement
(a plausible bug: a check dropped, a redaction skipped, a field not written), and the Catch
binary of the component (optionally a Catch test spec). For each one this script

  1. puts the bug into a scratch copy of the tree (never the real one): a clone of the
     repository at HEAD plus the uncommitted changes and new files of the working tree, kept
     in $TEND_MUTATE_DIR (default /tmp/tend-mutate) so later runs rebuild little;
  2. rebuilds that test binary (ccache; -j$TEND_JOBS, default 2) and runs it;
  3. reports `killed` (the binary failed), `survived` (it passed: no test saw the bug),
     `stale` (the text is no longer in the file, or no longer unique: fix the list),
     `no-build` (the mutation does not compile: not a useful mutation) or `unchecked` (every
     test case skipped);
  4. puts the file back.

Before the first mutation each binary runs once unmutated; a binary that fails then makes
its mutations `baseline-failed` (they would prove nothing). Prints the kill rate
killed / (killed + survived + unchecked) and exits 1 unless every mutation was killed.

Usage: bench/mutate.py [--list FILE] [--only NAME[,NAME...]] [--keep]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(path):
    """Blocks of `key = value` lines under a `[name]` header; `#` starts a comment line."""
    muts, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.fullmatch(r"\[([A-Za-z0-9_.-]+)\]\s*", line)
            if m:
                cur = {"name": m.group(1), "line": n}
                muts.append(cur)
                continue
            m = re.fullmatch(r"(\w+) = (.*)", line)
            if not m or cur is None:
                sys.exit(f"{path}:{n}: expected '[name]' or 'key = value', got: {line}")
            cur[m.group(1)] = m.group(2)
    for m in muts:
        for k in ("file", "target", "find", "replace", "why"):
            if k not in m:
                sys.exit(f"{path}:{m['line']}: mutation {m['name']} has no '{k}'")
        m["replace"] = "" if m["replace"] == "(nothing)" else m["replace"]
    return muts


def sh(cmd, cwd=None, env=None, timeout=None, capture=True):
    return subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)


def prepare(work):
    """A clone of the repository (objects shared, read only) at the working tree's HEAD, plus
    its uncommitted changes and untracked files. Files that did not change keep their mtime, so
    the scratch build is incremental."""
    src = os.path.join(work, "src")
    if not os.path.isdir(os.path.join(src, ".git")):
        os.makedirs(work, exist_ok=True)
        r = sh(["git", "clone", "-q", "--shared", "--no-checkout", ROOT, src])
        if r.returncode:
            sys.exit("git clone failed:\n" + r.stdout)
    for cmd in (["git", "fetch", "-q", "--no-tags", ROOT, "HEAD"],
                ["git", "checkout", "-q", "-f", "--detach", "FETCH_HEAD"],
                ["git", "clean", "-q", "-f", "-d", "-e", "/build/"]):
        r = sh(cmd, cwd=src)
        if r.returncode:
            sys.exit(" ".join(cmd) + " failed:\n" + r.stdout)
    diff = sh(["git", "diff", "--binary", "HEAD"], cwd=ROOT).stdout
    if diff.strip():
        r = subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=src, input=diff, text=True,
                           capture_output=True)
        if r.returncode:
            sys.exit("applying the working tree's changes failed:\n" + r.stderr)
    untracked = sh(["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for rel in filter(None, untracked.split("\0")):
        os.makedirs(os.path.dirname(os.path.join(src, rel)) or src, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(src, rel))
    return src


def build_env(src):
    env = dict(os.environ)
    env.update(CCACHE_BASEDIR=src, CCACHE_NOHASHDIR="1")
    return env


def build(src, target, jobs):
    b = os.path.join(src, "build")
    env = build_env(src)
    if not os.path.exists(os.path.join(b, "CMakeCache.txt")):
        r = sh(["cmake", "-S", src, "-B", b, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                "-DTEND_BUILD_BENCH=OFF"], env=env)
        if r.returncode:
            sys.exit("cmake configure failed:\n" + r.stdout)
    return sh(["cmake", "--build", b, "-j", str(jobs), "--target", target], env=env)


def run_tests(src, target, spec, timeout):
    """(outcome, detail): outcome is pass, fail, skipped or timeout."""
    b = os.path.join(src, "build", "tests")
    cmd = [os.path.join(b, target)] + ([spec] if spec else [])
    t0 = time.monotonic()
    try:
        r = sh(cmd, cwd=b, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"no result after {timeout} s"
    secs = time.monotonic() - t0
    m = re.findall(r"test cases:\s*(.*)", r.stdout)
    summary = m[-1].strip() if m else ("all passed" if r.returncode == 0 else f"exit {r.returncode}")
    # Catch counts a skipped test case as failed; the main says how many of them skipped.
    skips = re.findall(r"^(\d+) of \d+ test case\(s\) skipped", r.stdout, re.M)
    if skips:
        summary += f" ({skips[-1]} of them skipped)"
    if r.returncode == 77:
        return "skipped", summary
    return ("pass" if r.returncode == 0 else "fail"), f"{summary}, {secs:.0f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", default=os.path.join(ROOT, "bench", "mutations.txt"))
    ap.add_argument("--only", default="", help="comma-separated mutation names")
    ap.add_argument("--keep", action="store_true", help="keep the last mutation in the scratch copy")
    args = ap.parse_args()
    muts = parse(args.list)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m["name"] for m in muts}
        if unknown:
            sys.exit("unknown mutation(s): " + ", ".join(sorted(unknown)))
        muts = [m for m in muts if m["name"] in wanted]
    work = os.environ.get("TEND_MUTATE_DIR", "/tmp/tend-mutate")
    jobs = int(os.environ.get("TEND_JOBS", "2"))
    timeout = int(os.environ.get("TEND_MUTATE_TIMEOUT", "900"))
    src = prepare(work)
    print(f"scratch copy: {src} (the real tree is not touched)", flush=True)

    baseline = {}

    def baseline_of(key):
        """'' when the binary passes unmutated (run once, before its first mutation)."""
        if key not in baseline:
            target, spec = key
            r = build(src, target, jobs)
            if r.returncode:
                baseline[key] = "does not build unmutated:\n" + r.stdout[-3000:]
            else:
                outcome, detail = run_tests(src, target, spec, timeout)
                baseline[key] = "" if outcome == "pass" else f"{outcome} unmutated ({detail})"
            print(f"baseline {target} {spec}: {baseline[key] or 'passes'}", flush=True)
        return baseline[key]

    results = []
    for m in muts:
        path = os.path.join(src, m["file"])
        t0 = time.monotonic()
        text = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        count = text.count(m["find"]) if text is not None else 0
        key = (m["target"], m.get("tests", ""))
        if count != 1:
            outcome, detail = "stale", ("text not found" if count == 0 else f"text found {count} times")
        elif baseline_of(key):
            outcome, detail = "baseline-failed", baseline[key].splitlines()[0]
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(m["find"], m["replace"], 1))
            try:
                r = build(src, m["target"], jobs)
                if r.returncode:
                    errors = [l for l in r.stdout.splitlines() if "error" in l]
                    outcome, detail = "no-build", (errors[0] if errors else "build failed")[:200]
                else:
                    t, detail = run_tests(src, m["target"], m.get("tests", ""), timeout)
                    outcome = {"fail": "killed", "timeout": "killed", "pass": "survived",
                               "skipped": "unchecked"}[t]
            finally:
                if not (args.keep and m is muts[-1]):
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(text)
        secs = time.monotonic() - t0
        results.append((m, outcome, detail))
        print(f"{outcome:<10} {m['name']:<28} {m['target']:<20} {detail} [{secs:.0f} s total]",
              flush=True)
        print(f"           {m['file']}: {m['why']}", flush=True)

    counted = [o for _, o, _ in results if o in ("killed", "survived", "unchecked")]
    killed = counted.count("killed")
    print()
    for label in ("survived", "unchecked", "stale", "no-build", "baseline-failed"):
        names = [m["name"] for m, o, _ in results if o == label]
        if names:
            print(f"{label}: {', '.join(names)}")
    rate = f"{100.0 * killed / len(counted):.0f}%" if counted else "n/a"
    print(f"kill rate: {killed}/{len(counted)} = {rate} "
          f"({len(results)} mutations, {len(results) - len(counted)} not counted)")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
