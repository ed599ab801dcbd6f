#!/usr/bin/env bash
# tendd and tendctl as users run them: flags, exit codes, a real daemon on loopback with the real
# spec loader, engine and SQLite state, inotify reloads, SIGTERM.
source "$(dirname "$0")/daemon_lib.sh"

# --- usage and exit codes
"$TENDD" --help >/dev/null || fail "tendd --help"
"$TENDD" --version | grep -q '^tendd ' || fail "tendd --version"
set +e
"$TENDD" >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -eq 2 ] || fail "tendd without --spec should exit 2, got $rc"
[ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "usage error should be one line"
"$TENDD" --spec x --interval 5q >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --interval should exit 2"
"$TENDD" --spec x --spec-git y >/dev/null 2>&1; [ $? -eq 2 ] || fail "--spec with --spec-git should exit 2"
"$TENDD" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown flag should exit 2"
"$TENDCTL" --socket "$WORK/none.sock" status >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -eq 3 ] || fail "tendctl against no daemon should exit 3, got $rc"
grep -q "$WORK/none.sock" "$WORK/err" || fail "unreachable message should name the address"
"$TENDCTL" --url http://127.0.0.1:1 status >/dev/null 2>&1; [ $? -eq 3 ] || fail "tendctl --url unreachable should exit 3"
# Global options after the subcommand (kubectl's way) are the same options, not usage errors.
"$TENDCTL" status --socket "$WORK/none.sock" >/dev/null 2>"$WORK/err"; rc=$?
[ $rc -eq 3 ] || fail "tendctl status --socket S (after the subcommand) should exit 3, got $rc: $(cat "$WORK/err")"
grep -q "$WORK/none.sock" "$WORK/err" || fail "--socket after the subcommand should be the address tried"
echo "a-token" >"$WORK/tok"
"$TENDCTL" events --url http://127.0.0.1:1 --cacert "$WORK/none.pem" --token-file "$WORK/tok" >/dev/null 2>"$WORK/err"
rc=$?; [ $rc -eq 3 ] || fail "--url/--cacert/--token-file after the subcommand should parse (exit 3), got $rc: $(cat "$WORK/err")"
"$TENDCTL" status --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "an unknown option after the subcommand is still a usage error"
set -e
pass "usage and exit codes"

# --- a real daemon with a tiny spec
SPEC=$WORK/spec
mkdir -p "$SPEC"
cat >"$SPEC/environment.yml" <<'YML'
environment: scripttest
reconcile: { interval: 1h }
YML
PORT=$(free_port)
SOCK=$WORK/tendd.sock
echo "s3cr3t-token-for-tests" >"$WORK/token"
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --listen 127.0.0.1:$PORT --socket "$SOCK" \
  --token-file "$WORK/token" --log-format json >"$WORK/tendd.log" 2>&1 &
TPID=$!
PIDS+=($TPID)
wait_for curl -fsS "http://127.0.0.1:$PORT/healthz" || fail "tendd did not come up"
wait_for curl -fsS "http://127.0.0.1:$PORT/readyz" || fail "tendd never became ready"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode should be 0600"
curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["spec_error"] is None' | grep -q True || fail "spec_error should be null"
"$TENDCTL" --socket "$SOCK" status >"$WORK/status.txt" || fail "tendctl status"
grep -q "revision:" "$WORK/status.txt" || fail "status text"
"$TENDCTL" --socket "$SOCK" status -o json | json 'd["last_run"]["result"]' >/dev/null || fail "status json"
"$TENDCTL" --socket "$SOCK" plan >/dev/null || fail "tendctl plan"
"$TENDCTL" --socket "$SOCK" reconcile --now --wait >"$WORK/rc.txt" || fail "reconcile --wait should succeed: $(cat "$WORK/rc.txt")"
grep -q "success" "$WORK/rc.txt" || fail "reconcile output"
TEND_SOCKET=$SOCK "$TENDCTL" events >"$WORK/events.txt" || fail "tendctl events"
grep -q SpecApplied "$WORK/events.txt" || fail "events should include SpecApplied"
# TCP: token required
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/v1/reconcile")
[ "$code" = 401 ] || fail "reconcile without token should be 401, got $code"
"$TENDCTL" --url "http://127.0.0.1:$PORT" --token-file "$WORK/token" reconcile --now >/dev/null || fail "reconcile with token"
"$TENDCTL" reconcile --now --url "http://127.0.0.1:$PORT" --token-file "$WORK/token" >/dev/null ||
  fail "reconcile with --url and --token-file after the subcommand"
"$TENDCTL" status --socket "$SOCK" -o json | json 'd["last_run"]["result"]' >/dev/null || fail "status --socket after the subcommand"
grep -q "s3cr3t-token-for-tests" "$WORK/tendd.log" && fail "the token leaked into the log"
pass "daemon serves status, plan, events, reconcile"

# --- invalid edit keeps the last good spec; a valid edit is applied without restart
REV=$(curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["revision"]')
echo "bogus_key: 1" >>"$SPEC/environment.yml"
wait_for sh -c "curl -fsS http://127.0.0.1:$PORT/v1/status | grep -q 'environment.yml:3'" || fail "spec_error should locate the bad key"
[ "$(curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["revision"]')" = "$REV" ] || fail "revision must stay the last good one"
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt"
grep -q '^tend_spec_load_errors_total 1' "$WORK/metrics.txt" || fail "load errors metric"
printf 'environment: scripttest\nreconcile: { interval: 30m }\n' >"$SPEC/environment.yml.tmp"
mv "$SPEC/environment.yml.tmp" "$SPEC/environment.yml"
wait_for sh -c "curl -fsS http://127.0.0.1:$PORT/v1/status | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"spec_error\"] is None and d[\"revision\"] != \"$REV\" else 1)'" \
  || fail "valid edit should be applied"
pass "invalid spec kept out, valid edit applied"

# --- SIGHUP reloads, SIGTERM exits 0
kill -HUP $TPID
sleep 0.3
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "alive after SIGHUP"
kill -TERM $TPID
set +e
wait $TPID; rc=$?
set -e
[ $rc -eq 0 ] || fail "SIGTERM should exit 0, got $rc"
[ ! -e "$SOCK" ] || fail "socket should be removed on exit"
pass "SIGHUP and SIGTERM"

# --- --once
"$TENDD" --spec "$SPEC" --state "$WORK/once.db" --once >"$WORK/once.log" 2>&1 || fail "--once on an empty spec should exit 0"
set +e
printf 'environment: [broken\n' >"$SPEC/environment.yml"
"$TENDD" --spec "$SPEC" --state "$WORK/once.db" --once >"$WORK/once2.log" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || fail "--once on an invalid spec should exit 1, got $rc"
pass "--once"

# --- explain from the running daemon (the applied spec) equals explain offline
XSPEC=$WORK/xspec
mkdir -p "$XSPEC"
printf 'environment: scripttest\nreconcile: { interval: 1h }\n' >"$XSPEC/environment.yml"
printf 'hosts:\n  h: { address: 127.0.0.1 }\n' >"$XSPEC/hosts.yml"
cat >"$XSPEC/apps.yml" <<'YML'
apps:
  web:
    host: h
    containers:
      app:
        image: busybox:1.36
        ports: ["127.0.0.1:18099:80"]
        environment: { MODE: explain }
YML
XSOCK=$WORK/x.sock
"$TENDD" --spec "$XSPEC" --state "$WORK/x/tend.db" --socket "$XSOCK" --dry-run >"$WORK/x.log" 2>&1 &
XPID=$!
PIDS+=($XPID)
wait_for "$TENDCTL" --socket "$XSOCK" explain web >/dev/null 2>&1 || fail "explain from the daemon: $(cat "$WORK/x.log" | tail -3)"
"$TENDCTL" --socket "$XSOCK" explain web >"$WORK/x-online.txt"
grep -q "^container container/web/app" "$WORK/x-online.txt" || fail "online explain should list the container: $(cat "$WORK/x-online.txt")"
grep -q "image = busybox:1.36 *(.*apps.yml:6:" "$WORK/x-online.txt" || fail "online explain should locate the image: $(cat "$WORK/x-online.txt")"
"$TENDCTL" --socket "$XSOCK" explain web -o json >"$WORK/x-online.json"
(cd "$XSPEC" && "$TENDCTL" explain web . -o json) >"$WORK/x-offline.json"
python3 - "$WORK/x-online.json" "$WORK/x-offline.json" "$XSPEC" <<'PY' || fail "online and offline explain should agree"
import json, os, sys
on, off = (json.load(open(p)) for p in sys.argv[1:3])
norm = lambda items: sorted((i["kind"], i["id"], i["field"], i["value"], os.path.basename(i["source"]["file"]), i["source"]["line"]) for i in items)
sys.exit(0 if on and norm(on) == norm(off) else 1)
PY
set +e
"$TENDCTL" --socket "$XSOCK" explain nosuchapp >/dev/null 2>"$WORK/x-err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "explain of an unknown app should exit 1, got $rc"
grep -q "no app or resource 'nosuchapp'" "$WORK/x-err" || fail "unknown app message: $(cat "$WORK/x-err")"
kill -TERM $XPID; wait $XPID 2>/dev/null || true
pass "explain from the daemon"
