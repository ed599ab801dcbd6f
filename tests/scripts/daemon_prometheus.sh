#!/usr/bin/env bash
# A real Prometheus scrapes a real tendd on loopback, with the scrape config from deploy/.
source "$(dirname "$0")/daemon_lib.sh"
need prometheus promtool

SPEC=$WORK/spec
mkdir -p "$SPEC"
printf 'environment: promtest\nreconcile: { interval: 1h }\n' >"$SPEC/environment.yml"
PORT=$(free_port)
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --listen 127.0.0.1:$PORT \
  --socket "$WORK/tendd.sock" >"$WORK/tendd.log" 2>&1 &
PIDS+=($!)
wait_for curl -fsS "http://127.0.0.1:$PORT/readyz" || fail "tendd never became ready"

# promtool on the live exposition
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.log" 2>&1 || fail "promtool check metrics: $(cat "$WORK/promtool.log")"
pass "promtool check metrics"

# The deploy/ scrape config, pointed at this daemon, with a short interval.
PPORT=$(free_port)
CFG=$SRC/deploy/prometheus/prometheus.yml
python3 - "$CFG" "$PORT" "$WORK/prometheus.yml" <<'PY'
import re, sys, os
src, port, out = sys.argv[1], sys.argv[2], sys.argv[3]
if os.path.exists(src):
    text = open(src).read()
else:  # deploy/ not there yet: the same job, minimal
    text = "scrape_configs:\n  - job_name: tend\n    static_configs:\n      - targets: ['127.0.0.1:9469']\n"
text = re.sub(r"(['\"]?)[A-Za-z0-9_.\-\[\]:]+:9469\1", "'127.0.0.1:%s'" % port, text)
text = re.sub(r"scrape_interval:\s*\S+", "scrape_interval: 1s", text)
text = re.sub(r"scrape_timeout:\s*\S+", "scrape_timeout: 1s", text)
if "scrape_interval" not in text:
    text = "global:\n  scrape_interval: 1s\n" + text
# rule files are relative to deploy/prometheus; the alert rules are checked elsewhere
text = re.sub(r"rule_files:\n(\s+- .*\n)+", "", text)
open(out, "w").write(text)
PY
grep -q "127.0.0.1:$PORT" "$WORK/prometheus.yml" || fail "could not point the scrape config at tendd: $(cat "$WORK/prometheus.yml")"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address=127.0.0.1:$PPORT >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
q() { curl -fsS --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
for _ in $(seq 1 60); do
  if q 'up{job="tend"}' 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if r and r[0]["value"][1]=="1" else 1)'; then
    ok=1; break
  fi
  sleep 0.5
done
[ "${ok:-}" = 1 ] || fail "prometheus never saw up{job=\"tend\"} == 1"
q 'tend_resources' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if r else 1)' \
  || fail "tend_resources not in prometheus"
q 'tend_reconcile_runs_total{result="success"}' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if r else 1)' \
  || fail "tend_reconcile_runs_total not in prometheus"
pass "prometheus scrapes tend: up == 1, tend_resources present"
