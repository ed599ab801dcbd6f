#!/usr/bin/env python3
"""kill -9 tendd at seeded random points of a converge, and check what survives.

    bench/crash_test.py BUILD [--points N] [--seed S] [--apps A] [--per-app C] [--max-delay SEC]

The site (bench/reliability_lib.py): A apps x C containers (default 6 x 5 = 30) on the local
Docker Engine, each app with a named volume and its default network, two DNS domains in two
views (4 zones) on a private named. First tendd converges it. Then, N times: the spec is
changed at random (containers replaced, an app added or pruned, zone contents changed, a
container removed by hand), tendd is started and SIGKILLed after a random delay, the
database is checked (PRAGMA integrity_check) and the zone files (no serial lower than
before); tendd is started again and must converge (every resource ready) with no duplicate
docker object, no orphan (owned and not in the spec) and nothing missing.

Everything random comes from --seed: the same seed replays the same mutations and kill
delays (`crash_test.py BUILD --seed S` reproduces a failure; timing decides exactly which
call a delay interrupts). Prints one line per kill point and a summary; exit 1 on the first
failure, naming the seed and the point.
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reliability_lib import Failure, Site, log, main_guard  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--apps", type=int, default=6)
    ap.add_argument("--per-app", type=int, default=5)
    ap.add_argument("--max-delay", type=float, default=6.0, help="latest kill, seconds after start")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory and objects")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    site = Site(a.src, os.path.abspath(a.build), apps=a.apps, per_app=a.per_app)
    log(f"crash test: seed {seed}, {a.points} kill points, {a.apps * a.per_app} containers, "
        f"environment {site.id}, work {site.work}")
    t0 = time.time()
    point = 0
    try:
        site.setup()
        site.start_tendd()
        t = time.time()
        site.converge()
        expected = site.expected_ids()
        n = site.check_objects(expected)
        site.check_serials()
        log(f"first converge: {n} containers in {time.time() - t:.1f} s, {len(expected)} resources")
        site.stop_tendd()
        kills_mid = 0
        for point in range(1, a.points + 1):
            what = site.mutate(rng)
            delay = rng.uniform(0.05, a.max_delay)
            expected = site.expected_ids()
            site.start_tendd()
            time.sleep(delay)
            busy = site.proc.poll() is None
            site.kill9()
            site.integrity()
            site.check_serials()
            # The status a restarted tendd shows before its first run ends: what was recorded.
            site.start_tendd()
            t = time.time()
            site.converge()
            took = time.time() - t
            n = site.check_objects(expected)
            zones = site.check_serials()
            site.integrity()
            served = site.served_serial("a.test")
            kills_mid += 1
            log(f"point {point:3d}: kill -9 at {delay:4.2f} s ({what}) -> converged in {took:4.1f} s, "
                f"{n} containers, {zones} zones (a.test serial {served}), integrity ok")
            if not busy:
                raise Failure("tendd had already exited before the kill")
            site.stop_tendd()
        log(f"PASS: seed {seed}: {a.points} kill points, no duplicate, no orphan, no serial lower "
            f"than before, integrity_check ok ({time.time() - t0:.0f} s)")
        return 0
    except Failure as e:
        log(f"FAIL at point {point} (reproduce: bench/crash_test.py {a.build} --seed {seed} "
            f"--points {a.points} --apps {a.apps} --per-app {a.per_app}): {e}")
        log(f"tendd log: {site.work}/tendd.log")
        a.keep = True
        return 1
    finally:
        site.cleanup(keep=a.keep)


if __name__ == "__main__":
    main_guard(main)
