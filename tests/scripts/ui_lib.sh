# Shared by tests/scripts/ui_*.sh (sourced): the churn server (bench/ui_churn_server.cpp) —
# the real HTTP server, controller, event streams and web page over 10,000 fake resources
# that keep changing — on loopback with a bearer token.
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"
CHURN=$BUILD/bench/bench_ui_churn_server
[ -x "$CHURN" ] || skip "bench_ui_churn_server not built"
N=${UI_RESOURCES:-10000}
TOKEN=ui-test-token-$RANDOM$RANDOM
echo "$TOKEN" >"$WORK/token"
"$CHURN" "$N" "$WORK/churn" "$WORK/port" "$WORK/token" 2>"$WORK/churn.log" &
PIDS+=($!)
wait_for test -s "$WORK/port" || fail "churn server did not start"
PORT=$(cat "$WORK/port")
BASE=http://127.0.0.1:$PORT
wait_for curl -fsS "$BASE/readyz" || fail "churn server never became ready"
