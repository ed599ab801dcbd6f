#!/usr/bin/env bash
# The derived Caddyfile with a real Caddy (Debian's caddy) on loopback: `tendctl render`
# writes it from a spec's proxied expose/services entries, `caddy validate` accepts it, and a
# request with a proxied Host header to 127.0.0.1 reaches a test backend container through it
# (expose entry: by the app host's address; services entry: forward_headers + encode). A new
# app's route is picked up by `caddy run --watch` when the file is replaced by rename, as tend
# delivers it; a container that bind-mounts the file itself would keep the old one (which is
# why tend recreates such a container), one that mounts its directory sees the new one.
source "$(dirname "$0")/daemon_lib.sh"

need caddy docker
docker info >/dev/null 2>&1 || skip "dockerd is not running (tests/fixtures/docker/ensure-dockerd.sh starts it)"
id="cdy$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
image="tend-test/busybox:$id"
backend="tend-$id-backend"
cleanup_docker() {
  docker rm -f "$backend" "$backend-file" "$backend-dir" >/dev/null 2>&1 || true
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

# Served from a copy in a directory of its own, with --watch, as specs/wil runs Caddy.
mkdir -p "$WORK/live"
cp "$CF" "$WORK/live/Caddyfile"
caddy run --config "$WORK/live/Caddyfile" --adapter caddyfile --watch >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)
wait_for sh -c "curl -fsS -H 'Host: hello.home.test' http://127.0.0.1:$HPORT/ | grep -q 'hello from $id'" ||
  fail "a request for hello.home.test should reach the backend: $(curl -sS -H 'Host: hello.home.test' http://127.0.0.1:$HPORT/ 2>&1)"
pass "Host: hello.home.test on 127.0.0.1:$HPORT reaches the backend container"
curl -fsS -H 'Host: svc.other.test' -H 'Accept-Encoding: gzip' -o "$WORK/svc.gz" -D "$WORK/svc.h" "http://127.0.0.1:$HPORT/" ||
  fail "svc.other.test should be proxied"
grep -qi '^content-encoding: gzip' "$WORK/svc.h" || fail "encode gzip: $(cat "$WORK/svc.h")"
gzip -dc "$WORK/svc.gz" | grep "hello from $id" >/dev/null || fail "svc.other.test body"
pass "services entry (forward_headers, encode gzip) proxied"
body=$(curl -sS -H 'Host: nothere.home.test' "http://127.0.0.1:$HPORT/" 2>/dev/null || true)
case "$body" in *"hello from $id"*) fail "an unknown name must not reach the backend" ;; esac
pass "unknown names are not routed"

# A second proxied app: render again and deliver as tend does (a new file renamed over the old).
cat >>"$SPEC/apps.yml" <<YML
  more:
    host: local
    expose: [{ name: more, domain: home.test, port: $BPORT, proxied: true }]
    containers:
      web: { image: "busybox:1.36" }
YML
"$TENDCTL" render "$SPEC" --out "$WORK/out2" >"$WORK/render2.log" 2>&1 || fail "tendctl render (2): $(cat "$WORK/render2.log")"
grep -q "^http://more.home.test {" "$WORK/out2/local/etc/caddy/Caddyfile" || fail "the new app's site block"
old_inode=$(stat -c %i "$WORK/live/Caddyfile")
cp "$WORK/out2/local/etc/caddy/Caddyfile" "$WORK/live/.Caddyfile.new"
mv -f "$WORK/live/.Caddyfile.new" "$WORK/live/Caddyfile"
[ "$(stat -c %i "$WORK/live/Caddyfile")" != "$old_inode" ] || fail "the replace should be a new inode"
wait_for sh -c "curl -fsS -H 'Host: more.home.test' http://127.0.0.1:$HPORT/ | grep -q 'hello from $id'" ||
  fail "caddy --watch should route more.home.test after the rename: $(tail -5 "$WORK/caddy.log")"
curl -fsS -H 'Host: hello.home.test' "http://127.0.0.1:$HPORT/" | grep "hello from $id" >/dev/null || fail "the old route after the reload"
pass "caddy run --watch picks up a Caddyfile replaced by rename (no restart)"

# The same replace seen from containers: through a single-file bind mount the old file stays;
# through a directory mount the new one is there.
mkdir -p "$WORK/mnt"
echo one >"$WORK/mnt/conf"
docker run -d --name "$backend-file" -v "$WORK/mnt/conf:/conf:ro" "$image" sleep 600 >/dev/null || fail "file-mount container"
docker run -d --name "$backend-dir" -v "$WORK/mnt:/etc/x:ro" "$image" sleep 600 >/dev/null || fail "dir-mount container"
echo two >"$WORK/mnt/.conf.new"
mv -f "$WORK/mnt/.conf.new" "$WORK/mnt/conf"
[ "$(docker exec "$backend-dir" cat /etc/x/conf)" = two ] || fail "a directory mount should show the replaced file"
[ "$(docker exec "$backend-file" cat /conf)" = one ] || fail "a single-file mount was expected to keep the old inode"
pass "after a rename a single-file bind mount shows the old file, a directory mount the new one"
