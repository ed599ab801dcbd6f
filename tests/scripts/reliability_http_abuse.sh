#!/usr/bin/env bash
# The short version of bench/http_abuse.sh: a 1 GiB body (413), a 1 MiB request line and
# 1 MiB of headers (431), no or a wrong token on every mutating route over TCP (401, no run),
# slowloris with 200 connections, 1,000 connections at once; /healthz keeps answering in
# < 50 ms over the unix socket and from another loopback address; socket and state file 0600.
set -euo pipefail
source "$(dirname "$0")/skip_lib.sh"
need python3
BUILD=$(cd "${1:?build dir}" && pwd)
SRC=$(cd "${2:?source dir}" && pwd)
exec python3 "$SRC/bench/http_abuse.py" "$BUILD" --slowloris 200 --slow-seconds 12 --flood 1000 --body-mib 1024
