#!/usr/bin/env bash
# 100 generated bad commits pushed to the Git repository a running tendd follows
# (bench/bad_commits.py says what is checked).   bench/bad_commits.sh [BUILD] [--seed S]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
exec python3 "$ROOT/bench/bad_commits.py" "$BUILD" --src "$ROOT" --mutations 100 "$@"
