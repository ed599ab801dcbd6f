#!/usr/bin/env bash
# A whole `tendd --once` no-op (process start, spec load, state open, Docker observe, plan,
# exit) over 50 converged containers, against one raw `GET /containers/json` made by curl as
# a process, in the same run (target: within 1.5x).
#
#   bench/once_vs_curl.sh [BUILD_DIR] [CONTAINERS=50] [RUNS=15]
#
# The site: CONTAINERS busybox containers (the local test image, nothing published) in apps of
# 5, on the local dockerd; tendd --once converges them first, then each no-op is timed from
# process start to exit. Medians are printed. The run's containers are removed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
N="${2:-50}"
RUNS="${3:-15}"
TENDD="$BUILD/daemon/tendd"
[ -x "$TENDD" ] || { echo "build tend first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/tend-once-curl.XXXXXX)
ENV="oncecurl$$"
IMAGE="local/busybox:oncecurl"
cleanup() {
  docker ps -aq --filter "label=io.tend.environment=$ENV" | xargs -r docker rm -f >/dev/null 2>&1 || true
  # A container dockerd was still creating can hold a network for a moment: try a few times.
  for _ in 1 2 3 4 5; do
    docker ps -aq --filter "label=io.tend.environment=$ENV" | xargs -r docker rm -f >/dev/null 2>&1 || true
    nets=$(docker network ls -q --filter "label=io.tend.environment=$ENV")
    [ -z "$nets" ] && break
    echo "$nets" | xargs -r docker network rm >/dev/null 2>&1 || sleep 1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
"$ROOT/tests/fixtures/docker/ensure-dockerd.sh" >/dev/null
"$ROOT/tests/fixtures/docker/make-busybox-image.sh" "$IMAGE" >/dev/null
SPEC=$WORK/spec
mkdir -p "$SPEC"
printf 'environment: %s\nnetwork: { cidr: 127.0.0.0/8 }\nreconcile: { prune: true }\n' "$ENV" >"$SPEC/environment.yml"
printf 'hosts:\n  local: { address: 127.0.0.1 }\n' >"$SPEC/hosts.yml"
{
  echo "apps:"
  for ((a = 0; a < (N + 4) / 5; a++)); do
    echo "  ${ENV}a$a:"
    echo "    host: local"
    echo "    containers:"
    for ((c = 0; c < 5 && a * 5 + c < N; c++)); do
      echo "      c$c: { image: $IMAGE, command: [sleep, \"1000000\"] }"
    done
  done
} >"$SPEC/apps.yml"
once() { "$TENDD" --spec "$SPEC" --state "$WORK/tend.db" --listen off --socket "$WORK/tendd.sock" --once --log-level "${1:-warn}"; }
echo "converging $N containers (load average $(cut -d' ' -f1-3 /proc/loadavg))"
once info >"$WORK/first.log" 2>&1 || { grep -E "failed|error" "$WORK/first.log" | tail -5; sqlite3 "$WORK/tend.db" "select id, message from resources where phase != 'ready'" 2>/dev/null | head -5; exit 1; }
now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
: >"$WORK/tend.ms"
: >"$WORK/curl.ms"
for ((i = 0; i < RUNS; i++)); do
  t0=$(now); once >"$WORK/once.log" 2>&1 || { tail -5 "$WORK/once.log"; exit 1; }; t1=$(now)
  echo $(((t1 - t0) / 1000)) >>"$WORK/tend.ms"
  t0=$(now); curl -fsS --unix-socket /var/run/docker.sock "http://d/v1.41/containers/json?all=1" >/dev/null; t1=$(now)
  echo $(((t1 - t0) / 1000)) >>"$WORK/curl.ms"
done
T=$(median <"$WORK/tend.ms")
C=$(median <"$WORK/curl.ms")
echo "tendd --once no-op over $N containers: median $(awk -v v="$T" 'BEGIN { printf "%.1f", v / 1000 }') ms (of $RUNS)"
echo "curl GET /containers/json as a process: median $(awk -v v="$C" 'BEGIN { printf "%.1f", v / 1000 }') ms (of $RUNS)"
echo "ratio: $(awk -v t="$T" -v c="$C" 'BEGIN { printf "%.2f", t / c }')x (target <= 1.5x); load average $(cut -d' ' -f1-3 /proc/loadavg)"
