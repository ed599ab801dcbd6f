#!/usr/bin/env bash
# Mixed HTTP load on a real tendd while it converges (issue "reliability": load and soak).
#
#   bench/http_load.sh [BUILD_DIR] [SECONDS=60] [CONNECTIONS=64]
#
# tendd runs on a generated site of 6 apps x 5 containers (the local busybox test image,
# nothing published) with a token and --listen on loopback. During the run the spec is edited
# every 10 s (an app's containers get a new command, so they are replaced; `sleep` ignores
# SIGTERM, so a 1 s stop grace keeps each converge inside its 10 s) and `reconcile
# --now` is posted, so converges keep running under the load. wrk (-t2) cycles through
# /healthz, /metrics, /v1/status, /v1/events?tail=50, /v1/runs?limit=5, /v1/resources/ID and
# /v1/explain/APP (/readyz is left out of the mix: it answers 503 by design until the first
# converge has finished; a probe once a second lists every non-2xx answer by route). Printed: requests/s, latency percentiles, non-2xx
# answers and socket errors, tendd's RSS before, at its peak (VmHWM) and after, its threads
# and file descriptors before and after. Loopback only; the run's containers are removed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
SECS="${2:-60}"
CONNS="${3:-64}"
TENDD="$BUILD/daemon/tendd"
TENDCTL="$BUILD/daemon/tendctl"
[ -x "$TENDD" ] && [ -x "$TENDCTL" ] || { echo "build tend first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/tend-http-load.XXXXXX)
ENV="httpload$$"
IMAGE="local/busybox:httpload"
TPID=""
cleanup() {
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null || true
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
printf 'environment: %s\nnetwork: { cidr: 127.0.0.0/8 }\nreconcile: { interval: 1h, prune: true }\n' "$ENV" >"$SPEC/environment.yml"
printf 'hosts:\n  local: { address: 127.0.0.1 }\n' >"$SPEC/hosts.yml"
write_apps() {  # GENERATION
  {
    echo "apps:"
    for a in 1 2 3 4 5 6; do
      echo "  ${ENV}a$a:"
      echo "    host: local"
      echo "    containers:"
      for c in 1 2 3 4 5; do
        # One app per generation gets a new command (its five containers are replaced).
        local g=0
        [ $((($1 % 6) + 1)) -eq $a ] && g=$1
        echo "      c$c: { image: $IMAGE, command: [sleep, \"$((100000 + g))\"], stop_grace_period: 1s }"
      done
    done
  } >"$SPEC/apps.yml.tmp"
  mv "$SPEC/apps.yml.tmp" "$SPEC/apps.yml"
}
write_apps 0
openssl rand -hex 16 >"$WORK/token"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --listen "127.0.0.1:$PORT" --socket "$WORK/tendd.sock" \
  --token-file "$WORK/token" >"$WORK/tendd.log" 2>&1 &
TPID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
mem() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$TPID/status"; }
fds() { ls "/proc/$TPID/fd" | wc -l; }
echo "tendd pid $TPID on 127.0.0.1:$PORT; 30 containers converging; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "before: RSS $(mem VmRSS) kB, threads $(mem Threads), fds $(fds)"

cat >"$WORK/mix.lua" <<LUA
local paths = { "/healthz", "/metrics", "/v1/status", "/v1/events?tail=50", "/v1/runs?limit=5",
                "/v1/resources/container/${ENV}a1/c1", "/v1/explain/${ENV}a2" }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA

# Converges under the load: a spec edit and a reconcile every 10 s.
(
  gen=1
  while sleep 10; do
    write_apps $gen
    "$TENDCTL" --socket "$WORK/tendd.sock" reconcile --now >/dev/null 2>&1 || true
    gen=$((gen + 1))
  done
) &
EDITOR_PID=$!
# Which routes answer non-2xx while the load runs: one probe of each every second.
(
  while sleep 1; do
    for p in /healthz /readyz /metrics /v1/status "/v1/events?tail=50" "/v1/runs?limit=5" "/v1/resources/container/${ENV}a1/c1" "/v1/explain/${ENV}a2"; do
      c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$p")
      case "$c" in 2*) ;; *) echo "$p $c" ;; esac
    done
  done
) >"$WORK/non2xx.txt" 2>/dev/null &
PROBE_PID=$!
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/mix.lua" "http://127.0.0.1:$PORT" >"$WORK/wrk.txt" 2>&1 || true
kill "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null || true
echo "non-2xx seen by the per-second probe (route status count):"
sort "$WORK/non2xx.txt" | uniq -c | sed 's/^/  /'
[ -s "$WORK/non2xx.txt" ] || echo "  none"
kill "$EDITOR_PID" 2>/dev/null; wait "$EDITOR_PID" 2>/dev/null || true
grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors|requests in" "$WORK/wrk.txt"
grep -q "Non-2xx" "$WORK/wrk.txt" || echo "  no non-2xx answers"
grep -q "Socket errors" "$WORK/wrk.txt" || echo "  no socket errors"
echo "peak RSS (VmHWM) $(mem VmHWM) kB"
echo "runs during the load (newest first):"
curl -fsS "http://127.0.0.1:$PORT/v1/runs?limit=100" |
  python3 -c 'import json,sys
for x in json.load(sys.stdin): print("  run %s %s (%s): %s" % (x["id"], x["result"], x.get("trigger"), x.get("summary")))'
echo "each route once now:"
for p in /healthz /readyz /metrics /v1/status "/v1/events?tail=50" "/v1/runs?limit=5" "/v1/resources/container/${ENV}a1/c1" "/v1/explain/${ENV}a2"; do
  echo "  $p $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$p")"
done
"$TENDCTL" --socket "$WORK/tendd.sock" reconcile --now --wait >/dev/null && echo "after the load: a full reconcile succeeded"
echo "after: RSS $(mem VmRSS) kB, threads $(mem Threads), fds $(fds)"
