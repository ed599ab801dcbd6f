#!/usr/bin/env bash
# TLS on tendd's TCP listener (--tls-cert/--tls-key) as a homelab runs it: a throwaway CA signs
# a certificate for 127.0.0.1; curl and tendctl trust that CA. Plain HTTP to the TLS port,
# stalled handshakes and bad certificate paths must fail cleanly while tendd keeps serving.
source "$(dirname "$0")/daemon_lib.sh"
need openssl

# --- a throwaway CA and a server certificate for 127.0.0.1 (and localhost)
PKI=$WORK/pki
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=tend test CA $$" -keyout ca.key -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out server.pem
  # A second CA that did not sign anything: trusting it must not be enough.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=other CA $$" -keyout other.key -out other.pem
) >"$WORK/openssl.out" 2>&1 || { cat "$WORK/openssl.out" >&2; fail "openssl could not make the test PKI"; }
chmod 600 "$PKI"/*.key

SPEC=$WORK/spec
mkdir -p "$SPEC"
printf 'environment: tlstest\nreconcile: { interval: 1h }\n' >"$SPEC/environment.yml"
echo "tls-test-token-$$-abc" >"$WORK/token"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT

# --- bad certificate or key paths: a clear message naming the file, exit 1, no listener
set +e
"$TENDD" --spec "$SPEC" --state "$WORK/bad/tend.db" --listen 127.0.0.1:$PORT --socket off \
  --tls-cert "$PKI/missing.pem" --tls-key "$PKI/server.key" >"$WORK/bad1.out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "missing --tls-cert should exit 1, got $rc: $(cat "$WORK/bad1.out")"
grep -q "missing.pem" "$WORK/bad1.out" && grep -qi "no such file" "$WORK/bad1.out" \
  || fail "missing certificate message should name the file and the reason: $(cat "$WORK/bad1.out")"
"$TENDD" --spec "$SPEC" --state "$WORK/bad/tend.db" --listen 127.0.0.1:$PORT --socket off \
  --tls-cert "$PKI/server.pem" --tls-key "$PKI/nokey.key" >"$WORK/bad2.out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "missing --tls-key should exit 1, got $rc"
grep -q "nokey.key" "$WORK/bad2.out" || fail "missing key message should name the file: $(cat "$WORK/bad2.out")"
# The key of another certificate: OpenSSL notices the mismatch at start, not at the first client.
"$TENDD" --spec "$SPEC" --state "$WORK/bad/tend.db" --listen 127.0.0.1:$PORT --socket off \
  --tls-cert "$PKI/server.pem" --tls-key "$PKI/ca.key" >"$WORK/bad3.out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a key that does not match the certificate should exit 1, got $rc"
grep -qi "tls key" "$WORK/bad3.out" || fail "mismatched key message: $(cat "$WORK/bad3.out")"
# A file that is not PEM at all.
echo "not a certificate" >"$PKI/garbage.pem"
"$TENDD" --spec "$SPEC" --state "$WORK/bad/tend.db" --listen 127.0.0.1:$PORT --socket off \
  --tls-cert "$PKI/garbage.pem" --tls-key "$PKI/server.key" >"$WORK/bad4.out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a non-PEM certificate should exit 1, got $rc"
grep -q "garbage.pem" "$WORK/bad4.out" || fail "non-PEM message should name the file: $(cat "$WORK/bad4.out")"
"$TENDD" --spec "$SPEC" --tls-cert "$PKI/server.pem" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "--tls-cert without --tls-key is a usage error (2), got $rc"
set -e
pass "bad certificate and key paths fail at start with the file named"

# --- a TLS daemon
SOCK=$WORK/tendd.sock
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --listen 127.0.0.1:$PORT --socket "$SOCK" \
  --token-file "$WORK/token" --tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key" \
  --header-timeout 2s --log-format json >"$WORK/tendd.log" 2>&1 &
TPID=$!
PIDS+=($TPID)
CURL=(curl -sS --max-time 10 --cacert "$PKI/ca.pem")
wait_for "${CURL[@]}" -f "$URL/healthz" || fail "tendd did not come up over TLS"
wait_for "${CURL[@]}" -f "$URL/readyz" || fail "tendd never became ready"
"${CURL[@]}" -f "$URL/v1/status" | json 'd["spec_error"] is None and d["revision"] != ""' | grep -q True \
  || fail "/v1/status over TLS"
"${CURL[@]}" -f "$URL/metrics" >"$WORK/metrics.txt" || fail "/metrics over TLS"
grep -q '^tend_spec_load_errors_total ' "$WORK/metrics.txt" || fail "metrics body over TLS"
grep -q '"listen":"https://127.0.0.1:' "$WORK/tendd.log" || fail "the start line should say https://"
# Keep-alive over TLS: two requests on one connection.
"${CURL[@]}" -f "$URL/healthz" "$URL/healthz" -w '%{num_connects}\n' -o /dev/null -o /dev/null >"$WORK/conns.txt" \
  || fail "two requests over one TLS connection"
[ "$(paste -sd, "$WORK/conns.txt")" = "1,0" ] || fail "keep-alive over TLS should reuse the connection: $(cat "$WORK/conns.txt")"
# Our CA is required: the system store and an unrelated CA do not trust this certificate.
curl -sS --max-time 10 "$URL/healthz" >/dev/null 2>&1 && fail "curl without --cacert should not trust the test CA"
curl -sS --max-time 10 --cacert "$PKI/other.pem" "$URL/healthz" >/dev/null 2>&1 && fail "an unrelated CA should not verify"
pass "healthz, status, metrics and keep-alive over https with the test CA"

# --- plain HTTP to the TLS port: a readable refusal, never served, and tendd stays up
code=$(curl -s --max-time 10 -o "$WORK/plain.txt" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/status" || true)
[ "$code" = 400 ] || fail "plain HTTP on the TLS port should get 400, got '$code'"
grep -q "https" "$WORK/plain.txt" || fail "the refusal should say to use https: $(cat "$WORK/plain.txt")"
grep -q '"revision"' "$WORK/plain.txt" && fail "plain HTTP must not be served the status"
# Garbage bytes and a half-closed connection.
python3 - "$PORT" <<'PY' || fail "garbage on the TLS port"
import socket, sys
for payload in (b"\x16\x03\x01\x00\x05garbage-that-is-not-a-client-hello", b"\x00\x01\x02", b""):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    s.close()
PY
"${CURL[@]}" -f "$URL/healthz" >/dev/null || fail "tendd should survive plain HTTP and garbage on the TLS port"
kill -0 $TPID || fail "tendd died"
pass "plain HTTP and garbage on the TLS port fail cleanly"

# --- stalled handshakes (slowloris on TLS): others are served meanwhile, stallers are dropped
python3 - "$PORT" "$PKI/ca.pem" <<'PY' || fail "stalled TLS handshakes"
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
stallers = []
for i in range(50):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if i % 2:
        s.sendall(b"\x16\x03\x01\x02\x00\x01")  # the first bytes of a ClientHello, then nothing
    stallers.append(s)
ctx = ssl.create_default_context(cafile=ca)
t0 = time.monotonic()
for _ in range(20):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:100]
served = time.monotonic() - t0
if served > 1.9:
    sys.exit(f"20 TLS requests took {served:.2f}s while 50 handshakes stalled (deadline 2s)")
# --header-timeout 2s also bounds the handshake: every staller is closed by the server.
deadline = time.monotonic() + 8
for s in stallers:
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        sys.exit("a stalled TLS handshake was not dropped at the deadline")
    s.close()
print(f"20 requests in {served*1000:.0f} ms beside 50 stalled handshakes; all stallers dropped")
PY
"${CURL[@]}" -f "$URL/healthz" >/dev/null || fail "healthz after stalled handshakes"
pass "stalled handshakes do not block other clients and are dropped at the deadline"

# --- auth still applies on mutating routes over TLS
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "$URL/v1/reconcile")
[ "$code" = 401 ] || fail "reconcile over TLS without a token should be 401, got $code"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong" "$URL/v1/reconcile")
[ "$code" = 401 ] || fail "reconcile over TLS with a wrong token should be 401, got $code"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$WORK/token")" "$URL/v1/reconcile")
case $code in 2??) ;; *) fail "reconcile over TLS with the token should succeed, got $code" ;; esac
pass "auth on mutating routes over TLS"

# --- tendctl over https: --cacert, TEND_CACERT, and refusing an untrusted certificate
"$TENDCTL" --url "$URL" --cacert "$PKI/ca.pem" status >"$WORK/status.txt" || fail "tendctl --cacert status"
grep -q "revision:" "$WORK/status.txt" || fail "tendctl status text over TLS"
TEND_URL=$URL TEND_CACERT=$PKI/ca.pem "$TENDCTL" status -o json | json 'd["spec_error"] is None' | grep -q True \
  || fail "tendctl with TEND_URL and TEND_CACERT"
"$TENDCTL" --url "$URL" --cacert "$PKI/ca.pem" --token-file "$WORK/token" reconcile --now --wait >"$WORK/rc.txt" \
  || fail "tendctl reconcile --wait over TLS: $(cat "$WORK/rc.txt")"
grep -q success "$WORK/rc.txt" || fail "reconcile result over TLS"
"$TENDCTL" --url "$URL" --cacert "$PKI/ca.pem" events >"$WORK/events.txt" || fail "tendctl events over TLS"
grep -q SpecApplied "$WORK/events.txt" || fail "events over TLS"
set +e
"$TENDCTL" --url "$URL" --cacert "$PKI/ca.pem" reconcile --now >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -eq 1 ] || fail "tendctl reconcile over TLS without a token should exit 1, got $rc"
grep -q 401 "$WORK/err" || fail "the 401 should be reported: $(cat "$WORK/err")"
"$TENDCTL" --url "$URL" --cacert "$PKI/other.pem" status >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -eq 3 ] || fail "tendctl with the wrong CA should exit 3, got $rc"
grep -q "$URL" "$WORK/err" && grep -qi "certificate" "$WORK/err" \
  || fail "the TLS failure should name the URL and the certificate problem: $(cat "$WORK/err")"
"$TENDCTL" --url "$URL" --cacert "$PKI/nothere.pem" status >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -eq 3 ] || fail "tendctl with a missing CA file should exit 3, got $rc"
grep -q "nothere.pem" "$WORK/err" || fail "a missing CA file should be named: $(cat "$WORK/err")"
"$TENDCTL" --url "http://127.0.0.1:$PORT" status >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -ne 0 ] || fail "tendctl over plain http to the TLS port should fail"
set -e
grep -q "tls-test-token" "$WORK/tendd.log" && fail "the token leaked into the log"
pass "tendctl over https with --cacert / TEND_CACERT"

# --- SIGTERM still exits 0 with TLS connections around
exec 3<>/dev/tcp/127.0.0.1/$PORT  # an idle connection that never handshakes
kill -TERM $TPID
set +e
wait $TPID; rc=$?
set -e
exec 3>&-
[ $rc -eq 0 ] || fail "SIGTERM should exit 0 with TLS, got $rc"
pass "SIGTERM with TLS"
