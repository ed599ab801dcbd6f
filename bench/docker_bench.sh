#!/usr/bin/env bash
# docker_bench.sh BUILD_DIR [N...] — tend's docker provider vs docker-compose (v1, Debian) on
# the same services, side by side, against the local dockerd (loopback unix socket only).
# Per N (default 50 200):
#   - first converge of N containers + one user-defined network, no published ports:
#       tend through the real engine (provider-declared parallelism), the raw lower bound
#       (POST /containers/create + /start, same bodies, 16 in flight, no tend logic), and
#       `docker-compose up -d`
#   - no-op pass over N running containers: tend through the engine (observe, plan, state
#     records), tend's provider alone (observe + plan), `docker-compose up -d`, and one raw
#     `GET /containers/json` (curl --unix-socket, median of 15) in the same run
# Prints markdown tables with the load average and client CPU time (user+sys of the tend or
# compose process; dockerd's own work is not in it). Cleans up everything it created.
#
# docker-compose v1 deadlocks above 64 services with its default COMPOSE_PARALLEL_LIMIT=64:
# each service's converge task holds a slot of the global semaphore while its nested
# create/start tasks wait for one (compose/parallel.py producer(); docker/compose#5864,
# #8161). The script sets COMPOSE_PARALLEL_LIMIT=2N+16 so compose can finish, and bounds it
# with a timeout (COMPOSE_TIMEOUT_S, default 900): a failure is reported with the count of
# running containers, never hidden.
set -euo pipefail
build=${1:-build}
shift || true
sizes=("$@")
[[ $# -eq 0 ]] && sizes=(50 200)
src=$(cd "$(dirname "$0")/.." && pwd)
drv=$build/bench/bench_docker_bench
[[ -x $drv ]] || { echo "build $drv first: make -C $build bench_docker_bench" >&2; exit 1; }
bash "$src/tests/fixtures/docker/ensure-dockerd.sh" >&2
id=$$
image=tend-bench/busybox:$id
bash "$src/tests/fixtures/docker/make-busybox-image.sh" "$image" >&2
work=$(mktemp -d /tmp/tend-bench.XXXXXX)
ctimeout=${COMPOSE_TIMEOUT_S:-900}

cleanup() {
  for p in $(cat "$work/projects" 2>/dev/null); do
    docker ps -aq --filter "label=com.docker.compose.project=$p" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null 2>&1 || true
  done
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

compose_file() {  # N -> same services as the driver: sleep 3600, env SVC, one default network
  local n=$1 f=$2
  { echo "version: '2.4'"; echo "services:"
    for ((i = 1; i <= n; i++)); do
      s=$(printf 's%03d' "$i")
      printf '  %s:\n    image: %s\n    command: ["sleep", "3600"]\n    environment: {SVC: %s}\n    stop_grace_period: 1s\n' "$s" "$image" "$s"
    done; } >"$f"
}
raw_list_ms() {  # median of 15 raw GET /containers/json?all=1&filters=label (time_total, no process startup)
  local env=$1 q
  q="%7B%22label%22%3A%5B%22io.tend.environment%3D${env}%22%5D%7D"  # {"label":["io.tend.environment=ENV"]}
  for _ in $(seq 15); do
    curl -s -o /dev/null -w '%{time_total}\n' --unix-socket /var/run/docker.sock "http://d/v1.41/containers/json?all=1&filters=$q"
  done | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]*1000}'
}
# timed OUT_VAR CMD... : wall seconds into OUT_VAR, "cpu" (user+sys s) into OUT_VAR_cpu.
timed() {
  local var=$1 tf rc=0
  shift
  tf=$(mktemp "$work/time.XXXXXX")
  /usr/bin/time -f '%e %U %S' -o "$tf" "$@" >"$tf.out" 2>"$tf.err" || rc=$?
  read -r e u s < <(tail -1 "$tf")  # a failed command adds a "Command exited ..." line first
  printf -v "$var" '%s' "$e"
  printf -v "${var}_cpu" '%.2f' "$(echo "$u + $s" | bc -l)"
  cp "$tf.out" "$work/last.out"
  return $rc
}
running() { docker ps -q --filter "label=com.docker.compose.project=$1" | wc -l; }
val() { awk -v k="$1" '$1 == k {print $2}' "$work/last.out"; }

rows=()
for n in "${sizes[@]}"; do
  tenv=tb${id}n$n
  renv=tr${id}n$n
  cproj=cb${id}n$n
  echo "$tenv $renv $cproj" >>"$work/projects"
  mkdir -p "$work/$cproj"
  compose_file "$n" "$work/$cproj/docker-compose.yml"
  load0=$(cut -d' ' -f1 /proc/loadavg)

  echo "== $n containers: tend converge (engine)" >&2
  timed tconvw "$drv" engine-converge "$tenv" "$n" "$image" 0
  tconv=$(val converge_s)
  echo "== $n containers: tend no-op (engine, provider)" >&2
  timed _x "$drv" engine-noop "$tenv" "$n" "$image" 0
  tnoop=$(val noop_ms_median)
  timed _y "$drv" noop "$tenv" "$n" "$image" 20
  pnoop=$(val noop_ms_median)
  raw=$(raw_list_ms "$tenv")
  "$drv" down "$tenv" "$n" "$image" >/dev/null

  echo "== $n containers: raw create+start lower bound" >&2
  timed _r "$drv" raw "$renv" "$n" "$image" 16
  rconv=$(val raw_converge_s)
  "$drv" down "$renv" "$n" "$image" >/dev/null

  echo "== $n containers: docker-compose up -d (COMPOSE_PARALLEL_LIMIT=$((2 * n + 16)))" >&2
  cstatus=ok
  cenv=(env COMPOSE_PARALLEL_LIMIT=$((2 * n + 16)) COMPOSE_HTTP_TIMEOUT=600)
  cf=(-f "$work/$cproj/docker-compose.yml" -p "$cproj")
  if ! timed cconv "${cenv[@]}" timeout "$ctimeout" docker-compose "${cf[@]}" up -d; then
    cstatus="FAILED: $(running "$cproj")/$n running after ${cconv}s"
  fi
  if [[ $cstatus == ok ]]; then
    timed cnoop "${cenv[@]}" docker-compose "${cf[@]}" up -d
    cnoopms=$(echo "$cnoop * 1000" | bc -l)
  fi
  load1=$(cut -d' ' -f1 /proc/loadavg)
  echo "$cstatus" >"$work/status.$n"
  rows+=("$n|$tconv|$tconvw_cpu|$rconv|${cconv:-0}|${cconv_cpu:-0}|$cstatus|$tnoop|$pnoop|${cnoopms:-0}|$raw|$load0|$load1")
  "${cenv[@]}" docker-compose "${cf[@]}" down -t 1 >/dev/null 2>&1 || true
  printf '%s\n' "${rows[-1]}" >&2
done

echo "| containers | tend converge (engine) | tend CPU | raw create+start | compose up -d | compose CPU | tend speed-up | load (start/end) |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r n tconv tcpu rconv cconv ccpu cstatus tnoop pnoop cnoop raw l0 l1 <<<"$r"
  if [[ $cstatus == ok ]]; then
    printf '| %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.1fx | %s / %s |\n' "$n" "$tconv" "$tcpu" "$rconv" "$cconv" "$ccpu" \
      "$(echo "$cconv / $tconv" | bc -l)" "$l0" "$l1"
  else
    printf '| %d | %.2f s | %.2f s | %.2f s | %s | - | - | %s / %s |\n' "$n" "$tconv" "$tcpu" "$rconv" "$cstatus" "$l0" "$l1"
  fi
done
echo
echo "| containers | tend no-op (engine) | tend no-op (provider) | compose no-op (up -d) | speed-up (engine) | raw GET /containers/json | engine / raw | provider / raw |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r n tconv tcpu rconv cconv ccpu cstatus tnoop pnoop cnoop raw l0 l1 <<<"$r"
  sp=-
  [[ $cstatus == ok ]] && sp=$(printf '%.0fx' "$(echo "$cnoop / $tnoop" | bc -l)")
  printf '| %d | %.1f ms | %.1f ms | %.0f ms | %s | %.2f ms | %.1fx | %.1fx |\n' "$n" "$tnoop" "$pnoop" "$cnoop" "$sp" "$raw" \
    "$(echo "$tnoop / $raw" | bc -l)" "$(echo "$pnoop / $raw" | bc -l)"
done
