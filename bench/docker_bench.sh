#!/usr/bin/env bash
# docker_bench.sh BUILD_DIR [N...] — tend's docker provider vs docker-compose (v1, Debian) on
# the same services, side by side, against the local dockerd (loopback unix socket only).
#   - first converge of N containers (+ network): tend (parallel applies) vs `docker-compose up -d`
#   - no-op pass over N running containers: tend vs `docker-compose up -d` vs one raw
#     `GET /containers/json` (curl --unix-socket) in the same run
# Prints a markdown table. Cleans up everything it created.
set -euo pipefail
build=${1:-build}
shift || true
sizes=("${@:-50 200}")
[[ $# -eq 0 ]] && sizes=(50 200)
src=$(cd "$(dirname "$0")/.." && pwd)
drv=$build/bench/bench_docker_bench
[[ -x $drv ]] || { echo "build $drv first: make -C $build bench_docker_bench" >&2; exit 1; }
bash "$src/tests/fixtures/docker/ensure-dockerd.sh" >&2
id=$$
image=tend-bench/busybox:$id
bash "$src/tests/fixtures/docker/make-busybox-image.sh" "$image" >&2
work=$(mktemp -d /tmp/tend-bench.XXXXXX)

cleanup() {
  for p in $(cat "$work/projects" 2>/dev/null); do
    docker ps -aq --filter "label=com.docker.compose.project=$p" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null 2>&1 || true
  done
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
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

header='| containers | tend converge | compose converge | speed-up | tend no-op pass | compose no-op (up -d) | speed-up | raw GET /containers/json | tend / raw |'
echo "$header"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  tenv=tb${id}n$n
  cproj=cb${id}n$n
  echo "$tenv $cproj" >>"$work/projects"
  mkdir -p "$work/$cproj"
  compose_file "$n" "$work/$cproj/docker-compose.yml"

  echo "== $n containers: converge" >&2
  tconv=$("$drv" converge "$tenv" "$n" "$image" 8 | awk '/^converge_s/ {print $2}')
  t0=$(now)
  (cd "$work/$cproj" && timeout 900 docker-compose -p "$cproj" up -d >/dev/null 2>&1)
  cconv=$(echo "$(now) - $t0" | bc -l)

  echo "== $n containers: no-op" >&2
  tnoop=$("$drv" noop "$tenv" "$n" "$image" 20 | awk '/^noop_ms_median/ {print $2}')
  t0=$(now)
  (cd "$work/$cproj" && docker-compose -p "$cproj" up -d >/dev/null 2>&1)
  cnoop=$(echo "($(now) - $t0) * 1000" | bc -l)
  raw=$(raw_list_ms "$tenv")

  (printf '| %d | %.2f s | %.2f s | %.1fx | %.1f ms | %.0f ms | %.0fx | %.2f ms | %.1fx |' \
    "$n" "$tconv" "$cconv" "$(echo "$cconv / $tconv" | bc -l)" \
    "$tnoop" "$cnoop" "$(echo "$cnoop / $tnoop" | bc -l)" "$raw" "$(echo "$tnoop / $raw" | bc -l)"; echo)

  echo "== $n containers: down" >&2
  "$drv" down "$tenv" "$n" "$image" >/dev/null
  (cd "$work/$cproj" && docker-compose -p "$cproj" down -t 1 >/dev/null 2>&1) || true
done

