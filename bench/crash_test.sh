#!/usr/bin/env bash
# kill -9 tendd at 50 seeded random points during converges of a 30-container site with two
# DNS domains (4 zones), a Proxmox template and 3 VMs on the API emulator (tasks of 0.5–2 s,
# half the points that clone a VM kill tendd at the clone call) and 6 files on a host
# configured over SSH, and check each restart (bench/crash_test.py says what). Needs dockerd,
# named, dig, sqlite3, openssl, ssh-keygen — deploy/quickstart.sh test starts dockerd.
#   bench/crash_test.sh [BUILD] [--points N] [--seed S] [--apps A] [--per-app C] [--vms V] [--host-files F]
# (--vms 0 --host-files 0: Docker and named only, as before the Proxmox and SSH providers joined.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
ulimit -c 0
exec python3 "$ROOT/bench/crash_test.py" "$BUILD" --src "$ROOT" --points 50 "$@"
