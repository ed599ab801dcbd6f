#!/usr/bin/env bash
# deploy/prometheus: the scrape config and alert rules pass `promtool check`, the rule unit
# tests pass `promtool test rules`, the promised alerts exist, and every metric the rules
# query is one CONTRACT.md's Metrics section names (so a renamed metric breaks this test,
# not someone's paging at 3 a.m.).
# Usage: deploy_promtool_rules.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
DIR=$SRC/deploy/prometheus
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

source "$(dirname "$0")/skip_lib.sh"
need promtool
for f in prometheus.yml tend.rules.yml tend.rules.test.yml; do
  [ -f "$DIR/$f" ] || fail "$DIR/$f missing"
done

out=$(promtool check rules "$DIR/tend.rules.yml" 2>&1) || fail "promtool check rules: $out"
pass "promtool check rules"
# rule_files are relative to the config file, so check it where it lives.
out=$(cd "$DIR" && promtool check config prometheus.yml 2>&1) || fail "promtool check config: $out"
pass "promtool check config"
out=$(cd "$DIR" && promtool test rules tend.rules.test.yml 2>&1) || fail "promtool test rules: $out"
pass "promtool test rules"

# The scrape job the rest of the stack (alerts, dashboard, daemon_prometheus.sh) expects.
python3 - "$DIR/prometheus.yml" <<'PY' || fail "prometheus.yml: job 'tend' must scrape 127.0.0.1:9469"
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
jobs = {j["job_name"]: j for j in cfg.get("scrape_configs", [])}
targets = [t for sc in jobs["tend"]["static_configs"] for t in sc["targets"]]
assert "127.0.0.1:9469" in targets, targets
assert "tend.rules.yml" in cfg.get("rule_files", [])
PY
pass "scrape job tend -> 127.0.0.1:9469"

python3 "$SRC/tests/scripts/deploy_contract_metrics.py" "$SRC" rules "$DIR/tend.rules.yml" "$DIR/tend.rules.test.yml" || exit 1
