#!/usr/bin/env bash
# deploy/grafana/tend-dashboard.json: parses (jq), is a Grafana dashboard (schemaVersion >= 36,
# a Prometheus datasource variable every panel uses), has the promised panels, queries only
# CONTRACT.md metrics, and every PromQL expression parses (promtool, with Grafana's
# variables substituted).
# Usage: deploy_grafana_dashboard.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
DASH=$SRC/deploy/grafana/tend-dashboard.json
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

[ -f "$DASH" ] || fail "$DASH missing"
source "$(dirname "$0")/skip_lib.sh"
need jq promtool
jq -e . "$DASH" >/dev/null 2>&1 || fail "$DASH is not valid JSON: $(jq . "$DASH" 2>&1 | tail -1)"
jq -e '.schemaVersion >= 36 and (.panels | length) > 0' "$DASH" >/dev/null ||
  fail "schemaVersion < 36 or no panels"
pass "jq parses it; schemaVersion $(jq .schemaVersion "$DASH"), $(jq '.panels | length' "$DASH") panels"

out=$(python3 "$SRC/tests/scripts/deploy_contract_metrics.py" "$SRC" grafana "$DASH" 2>&1) || fail "${out#FAIL: }"
echo "$out"

if command -v promtool >/dev/null; then
  WORK=$(mktemp -d /tmp/tend-deploy-grafana-XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  # Each expression becomes a recording rule so promtool's PromQL parser checks it.
  jq -r '[.panels[] | (., .panels[]?) | .targets[]? | .expr] | unique | .[]' "$DASH" |
    python3 -c '
import json, sys
exprs = [l.rstrip("\n") for l in sys.stdin if l.strip()]
rules = []
for i, e in enumerate(exprs):
    e = e.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    e = e.replace("$job", ".*").replace("$instance", ".*")
    rules.append({"record": "tend:dashboard_expr_%d" % i, "expr": e})
print(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
' >"$WORK/dashboard.rules.yml"
  out=$(promtool check rules "$WORK/dashboard.rules.yml" 2>&1) || fail "a dashboard query does not parse: $out"
  pass "promtool parses every dashboard query ($(grep -o '"record"' "$WORK/dashboard.rules.yml" | wc -l))"
else
  echo "note: promtool not installed, PromQL syntax not checked"
fi
