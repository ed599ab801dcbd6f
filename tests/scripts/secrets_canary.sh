#!/usr/bin/env bash
# A full integration run with a canary secret: tendd decrypts a SOPS value, hands it to a real
# container through the Docker provider, and the canary must then appear nowhere else — not in
# tendd's logs (text and JSON), /v1/status, /v1/plan, /v1/events, /metrics, tendctl's output,
# nor the state database (with its WAL). Needs dockerd (started by deploy/quickstart.sh test).
source "$(dirname "$0")/daemon_lib.sh"

need docker
docker info >/dev/null 2>&1 || skip "dockerd is not running (deploy/quickstart.sh test starts it)"
id="cny$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
image="tend-test/busybox:$id"
canary="CANARY-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
spec="$WORK/spec"
mkdir -p "$spec" "$WORK/var"
cleanup_docker() {
  docker ps -aq --filter "label=io.tend.environment=$id" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "label=io.tend.environment=$id" | xargs -r docker network rm >/dev/null 2>&1 || true
  docker image rm "$image" >/dev/null 2>&1 || true
}
trap 'cleanup_docker; cleanup' EXIT

bash "$SRC/tests/fixtures/docker/make-busybox-image.sh" "$image" >/dev/null

cat >"$spec/environment.yml" <<EOF
environment: $id
network: { cidr: 127.0.0.0/8 }
providers:
  docker: { transport: "unix:/var/run/docker.sock" }
secrets: { file: secrets.sops.yml }
EOF
cat >"$spec/hosts.yml" <<EOF
hosts:
  local: { address: 127.0.0.1 }
EOF
cat >"$spec/apps.yml" <<EOF
apps:
  $id:
    host: local
    containers:
      app:
        image: $image
        command: [sleep, "3600"]
        environment:
          TOKEN: \${secret:canary_token}
EOF
export TEND_AGE_KEY_FILE="$SRC/tests/testdata/secrets/demo-age.key"
printf '%s' "$canary" | "$TENDCTL" secrets set canary_token "$spec" >"$WORK/ctl.log" 2>&1 \
  || fail "tendctl secrets set"
grep -q "$canary" "$spec/secrets.sops.yml" && fail "the SOPS file holds the canary in clear text"
[ "$("$TENDCTL" secrets show canary_token "$spec")" = "$canary" ] || fail "secrets show round trip"
pass "canary encrypted into a SOPS file and read back"

port=$(free_port)
sock="$WORK/var/tendd.sock"
for fmt in json text; do
  rm -f "$sock"
  "$TENDD" --spec "$spec" --state "$WORK/var/tend.db" --socket "$sock" --listen "127.0.0.1:$port" \
    --log-format "$fmt" --log-level debug >"$WORK/tendd-$fmt.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for curl -sf --unix-socket "$sock" http://tend/healthz || fail "tendd ($fmt logs) did not answer on its socket"
  "$TENDCTL" --socket "$sock" reconcile --now --wait >>"$WORK/ctl.log" 2>&1 \
    || fail "reconcile --wait did not succeed ($fmt logs)"
  for route in /v1/status /v1/plan "/v1/events?since=0" /metrics /readyz; do
    curl -sf --unix-socket "$sock" "http://tend$route" >>"$WORK/responses.txt" || fail "GET $route"
    echo >>"$WORK/responses.txt"
  done
  "$TENDCTL" --socket "$sock" status -o json >>"$WORK/ctl.log" 2>&1
  "$TENDCTL" --socket "$sock" events >>"$WORK/ctl.log" 2>&1
  "$TENDCTL" --socket "$sock" plan >>"$WORK/ctl.log" 2>&1
  kill -TERM "$pid"
  wait "$pid" || fail "tendd did not exit 0 on SIGTERM"
done

# The secret did its job: the container got it.
cid=$(docker ps -q --filter "label=io.tend.environment=$id")
[ -n "$cid" ] || fail "the container is not running"
docker inspect "$cid" --format '{{json .Config.Env}}' | grep -q "TOKEN=$canary" \
  || fail "the container did not receive the secret"
pass "the container received the decrypted secret"

hits=$(grep -rl -- "$canary" "$WORK"/*.log "$WORK/responses.txt" "$WORK/var" 2>/dev/null || true)
[ -z "$hits" ] || fail "canary found in: $hits"
grep -q '"id"' "$WORK/responses.txt" || fail "responses look empty"
pass "canary in none of: tendd logs (json, text), status, plan, events, metrics, tendctl output, state DB"
