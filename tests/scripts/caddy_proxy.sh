#!/usr/bin/env bash
# The derived Caddyfile with a real Caddy (Debian's caddy) on loopback: `tendctl render`
# writes it from a spec's proxied expose/services entries, `caddy validate` accepts it, and a
# request with a proxied Host header to 127.0.0.1 reaches a test backend container through it
# (expose entry: by the app host's address; services entry: forward_headers + encode).
source "$(dirname "$0")/daemon_lib.sh"

need caddy docker
docker info >/dev/null 2>&1 || skip "dockerd is not running (tests/fixtures/docker/ensure-dockerd.sh starts it)"
id="cdy$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
image="tend-test/busybox:$id"
backend="tend-$id-backend"
cleanup_docker() {
  docker rm -f "$backend" >/dev/null 2>&1 || true
  docker image rm "$image" >/dev/null 2>&1 || true
}
trap 'cleanup_docker; cleanup' EXIT
bash "$SRC/tests/fixtures/docker/make-busybox-image.sh" "$image" >/dev/null

BPORT=$(free_port)
HPORT=$(free_port)
APORT=$(free_port)
mkdir -p "$WORK/www"
{ echo "hello from $id"; for _ in $(seq 1 64); do echo "padding so that encode gzip applies (minimum length 512 bytes)"; done; } >"$WORK/www/index.html"
docker run -d --name "$backend" -p "127.0.0.1:$BPORT:8080" -v "$WORK/www:/www:ro" "$image" \
  httpd -f -p 8080 -h /www >/dev/null || fail "backend container"

SPEC=$WORK/spec
mkdir -p "$SPEC"
cat >"$SPEC/environment.yml" <<YML
environment: $id
network: { cidr: 127.0.0.0/8 }
dns:
  domains: [home.test, other.test]
  reverse_proxy: local
proxy:
  admin: localhost:$APORT
  http_port: $HPORT
  tls: off
services:
  - { name: svc, domain: other.test, backend: "127.0.0.1:$BPORT", proxied: true, forward_headers: true, encode: gzip }
YML
printf 'hosts:\n  local: { address: 127.0.0.1 }\n' >"$SPEC/hosts.yml"
cat >"$SPEC/apps.yml" <<YML
apps:
  hello:
    host: local
    expose: [{ name: hello, domain: home.test, port: $BPORT, proxied: true }]
    containers:
      web: { image: "busybox:1.36", ports: ["127.0.0.1:$BPORT:8080"] }
YML
"$TENDCTL" render "$SPEC" --out "$WORK/out" >"$WORK/render.log" 2>&1 || fail "tendctl render: $(cat "$WORK/render.log")"
CF=$WORK/out/local/etc/caddy/Caddyfile
[ -f "$CF" ] || fail "no Caddyfile rendered: $(cat "$WORK/render.log")"
grep -q "^http://hello.home.test {" "$CF" || fail "site block for hello.home.test: $(cat "$CF")"
grep -q "reverse_proxy 127.0.0.1:$BPORT" "$CF" || fail "backend resolved from the app's host: $(cat "$CF")"
export XDG_DATA_HOME=$WORK/caddy-data XDG_CONFIG_HOME=$WORK/caddy-config
caddy validate --config "$CF" --adapter caddyfile >"$WORK/validate.log" 2>&1 || fail "caddy validate: $(cat "$WORK/validate.log")"
pass "caddy validate accepts the derived Caddyfile"

caddy run --config "$CF" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)
wait_for sh -c "curl -fsS -H 'Host: hello.home.test' http://127.0.0.1:$HPORT/ | grep -q 'hello from $id'" ||
  fail "a request for hello.home.test should reach the backend: $(curl -sS -H 'Host: hello.home.test' http://127.0.0.1:$HPORT/ 2>&1)"
pass "Host: hello.home.test on 127.0.0.1:$HPORT reaches the backend container"
curl -fsS -H 'Host: svc.other.test' -H 'Accept-Encoding: gzip' -o "$WORK/svc.gz" -D "$WORK/svc.h" "http://127.0.0.1:$HPORT/" ||
  fail "svc.other.test should be proxied"
grep -qi '^content-encoding: gzip' "$WORK/svc.h" || fail "encode gzip: $(cat "$WORK/svc.h")"
gzip -dc "$WORK/svc.gz" | grep -q "hello from $id" || fail "svc.other.test body"
pass "services entry (forward_headers, encode gzip) proxied"
body=$(curl -sS -H 'Host: nothere.home.test' "http://127.0.0.1:$HPORT/" 2>/dev/null || true)
case "$body" in *"hello from $id"*) fail "an unknown name must not reach the backend" ;; esac
pass "unknown names are not routed"
