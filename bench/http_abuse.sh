#!/usr/bin/env bash
# HTTP abuse against tendd at full size: slowloris with 1,000 connections (a header byte per
# second), 10,000 connections at once, a 1 GiB body, a 1 MiB request line, no/wrong token on
# every mutating route; /healthz latency during each (bench/http_abuse.py says what).
#   bench/http_abuse.sh [BUILD]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
shift || true
exec python3 "$ROOT/bench/http_abuse.py" "$BUILD" --slowloris 1000 --flood 10000 --body-mib 1024 "$@"
