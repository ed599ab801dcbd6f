#!/usr/bin/env bash
# The short version of bench/crash_test.sh: 5 seeded kill -9 points during converges of a
# 30-container site with 4 zones; after each restart tendd converges with no duplicate, no
# orphan, no zone serial lower than before and PRAGMA integrity_check ok. The seed is fixed
# so a failure reproduces (`bench/crash_test.sh BUILD --seed 16 --points 5`).
set -euo pipefail
source "$(dirname "$0")/skip_lib.sh"
need python3 docker named rndc dig sqlite3
BUILD=$(cd "${1:?build dir}" && pwd)
SRC=$(cd "${2:?source dir}" && pwd)
docker info >/dev/null 2>&1 || skip "dockerd is not running (deploy/quickstart.sh test starts it)"
ulimit -c 0
exec python3 "$SRC/bench/crash_test.py" "$BUILD" --src "$SRC" --points "${TEND_CRASH_POINTS:-5}" \
  --seed "${TEND_CRASH_SEED:-16}" --max-delay 4
