#!/usr/bin/env bash
# Provider outages under a running tendd (bench/outage_test.py): Docker unreachable, the
# Docker socket answering garbage, named stopped. tendd stays up, /healthz p99 < 250 ms here
# (50 ms in the bench run: the test shares a busy CI box), affected
# resources failed/blocked with the reason, the others converge, retry delays within the cap,
# and everything converges on its own within one backoff period after the outage.
set -euo pipefail
source "$(dirname "$0")/skip_lib.sh"
need python3 docker named rndc dig
BUILD=$(cd "${1:?build dir}" && pwd)
SRC=$(cd "${2:?source dir}" && pwd)
docker info >/dev/null 2>&1 || skip "dockerd is not running (deploy/quickstart.sh test starts it)"
ulimit -c 0
exec python3 "$SRC/bench/outage_test.py" "$BUILD" --src "$SRC" --apps 2 --per-app 2 --outage 8 --healthz-p99 250
