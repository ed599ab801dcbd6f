#!/usr/bin/env bash
# kill -9 tendd at 50 seeded random points during converges of a 30-container site with two
# DNS domains (4 zones), and check each restart (bench/crash_test.py says what). Needs dockerd,
# named, dig, sqlite3 — deploy/quickstart.sh test starts dockerd.
#   bench/crash_test.sh [BUILD] [--points N] [--seed S] [--apps A] [--per-app C]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
ulimit -c 0
exec python3 "$ROOT/bench/crash_test.py" "$BUILD" --src "$ROOT" --points 50 "$@"
