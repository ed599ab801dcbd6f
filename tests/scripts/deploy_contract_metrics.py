#!/usr/bin/env python3
"""Checks that deploy/ only queries metrics CONTRACT.md promises (helper for deploy_*.sh).

  deploy_contract_metrics.py SRC rules RULES.yml RULES_TEST.yml
  deploy_contract_metrics.py SRC grafana DASHBOARD.json

Exit 0 when fine; otherwise prints "FAIL: <reason>" and exits 1.
"""
import json
import os
import re
import sys

# CONTRACT.md's Metrics section, as a fallback when the design folder is not beside the
# checkout (a release tarball); the live file wins when present, so renames are caught.
FALLBACK = """
`tend_reconcile_runs_total{result}`, `tend_reconcile_duration_seconds`
(histogram), `tend_resources{kind,phase}`, `tend_drift_corrections_total{kind}`,
`tend_provider_requests_total{provider,outcome}`,
`tend_provider_request_duration_seconds{provider}` (histogram),
`tend_spec_revision_info{revision}`, `tend_spec_load_errors_total`,
`tend_last_success_timestamp_seconds`, `tend_workqueue_depth`,
plus `process_resident_memory_bytes` and `process_start_time_seconds`.
"""

PROMQL_WORDS = {
    # aggregations, keywords and functions that can precede "(" or "{"-free positions
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool",
}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def contract_metrics(src):
    candidates = [
        os.path.join(src, "..", "shared", "design", "CONTRACT.md"),
        os.path.join(src, "docs", "CONTRACT.md"),
        os.path.join(src, "CONTRACT.md"),
    ]
    section = None
    for p in candidates:
        try:
            text = open(p).read()
        except OSError:
            continue
        if "## Metrics" in text:
            section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
            break
    if section is None:
        section = FALLBACK
    names = set(re.findall(r"`((?:tend|process)_[a-z0-9_]+)", section))
    if len(names) < 10:
        fail("could not read the metric list from CONTRACT.md (found %s)" % sorted(names))
    allowed = set(names)
    for n in names:  # histogram and summary series
        allowed |= {n + "_bucket", n + "_sum", n + "_count"}
    allowed |= {"up", "scrape_duration_seconds"}  # Prometheus' own per-target series
    return allowed


def unknown_metrics(expr, allowed):
    """Metric names an expression selects that the contract does not have."""
    # Drop label matchers and strings so label values are not mistaken for metric names.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "{}", bare)
    bare = re.sub(r"\[[^\]]*\]", "[]", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "1", bare)  # Grafana variables
    out = []
    for m in re.finditer(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)", bare):
        word = m.group(1)
        after = bare[m.end():].lstrip()
        if after.startswith("("):
            continue  # a function or aggregation
        if word in PROMQL_WORDS or word in ("e", "inf", "nan", "Inf", "NaN"):
            continue
        if word not in allowed:
            out.append(word)
    return out


def check_rules(src, rules_path, tests_path):
    import yaml

    allowed = contract_metrics(src)
    rules = yaml.safe_load(open(rules_path))
    alerts = {}
    bad = []
    for g in rules["groups"]:
        for r in g["rules"]:
            name = r.get("alert") or r.get("record")
            alerts[name] = r["expr"]
            for m in unknown_metrics(r["expr"], allowed):
                bad.append("%s uses %s" % (name, m))
    if bad:
        fail("rules query metrics not in CONTRACT.md: " + "; ".join(bad))
    want = ["TendDown", "TendSpecInvalid", "TendReconcileFailing", "TendResourcesNotReady",
            "TendDriftRepeated", "TendNoRecentSuccess"]
    missing = [a for a in want if a not in alerts]
    if missing:
        fail("missing alerts: %s" % missing)
    tests = yaml.safe_load(open(tests_path))
    fired = {t["alertname"] for tc in tests["tests"] for t in tc.get("alert_rule_test", [])
             if t.get("exp_alerts")}
    if len(fired) < 2:
        fail("promtool unit tests make fewer than two alerts fire: %s" % sorted(fired))
    print("ok: %d alerts use only contract metrics; unit tests fire %s"
          % (len(alerts), ", ".join(sorted(fired))))


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        for sub in p.get("panels", []):  # collapsed rows keep their panels inside
            yield sub


def check_grafana(src, path):
    allowed = contract_metrics(src)
    try:
        dash = json.load(open(path))
    except ValueError as e:
        fail("%s is not valid JSON: %s" % (path, e))
    if dash.get("schemaVersion", 0) < 36:
        fail("schemaVersion %s < 36" % dash.get("schemaVersion"))
    if not dash.get("uid") or not dash.get("title"):
        fail("dashboard needs a uid and a title")
    variables = dash.get("templating", {}).get("list", [])
    ds_vars = [v for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if not ds_vars:
        fail("no Prometheus datasource variable in templating.list")
    ds_name = ds_vars[0]["name"]
    bad, exprs, ids = [], [], set()
    panels = list(panels_of(dash))
    for p in panels:
        if p.get("type") == "row":
            continue
        pid = p.get("id")
        if pid in ids:
            bad.append("duplicate panel id %s" % pid)
        ids.add(pid)
        for key in ("gridPos", "title", "datasource"):
            if key not in p:
                bad.append("panel %r lacks %s" % (p.get("title"), key))
        if p.get("datasource", {}).get("uid") != "${%s}" % ds_name:
            bad.append("panel %r does not use the ${%s} datasource" % (p.get("title"), ds_name))
        targets = p.get("targets", [])
        if not targets:
            bad.append("panel %r has no queries" % p.get("title"))
        for t in targets:
            expr = t.get("expr", "")
            if not expr:
                bad.append("panel %r has a target without expr" % p.get("title"))
                continue
            exprs.append(expr)
            for m in unknown_metrics(expr, allowed):
                bad.append("panel %r uses %s" % (p.get("title"), m))
    if bad:
        fail("; ".join(bad))
    joined = "\n".join(exprs)
    # The views the README promises.
    needs = {
        "runs by result": "tend_reconcile_runs_total",
        "run duration quantiles": "histogram_quantile(0.95, ",
        "duration histogram": "tend_reconcile_duration_seconds_bucket",
        "resources by phase": "tend_resources",
        "drift corrections": "tend_drift_corrections_total",
        "provider requests": "tend_provider_requests_total",
        "provider latency": "tend_provider_request_duration_seconds_bucket",
        "workqueue depth": "tend_workqueue_depth",
        "spec revision": "tend_spec_revision_info",
    }
    missing = [k for k, v in needs.items() if v not in joined]
    if missing:
        fail("dashboard lacks panels for: %s" % ", ".join(missing))
    print("ok: %d panels, %d queries, all on contract metrics" % (len(panels), len(exprs)))


def main():
    if len(sys.argv) < 3:
        fail("usage: deploy_contract_metrics.py SRC rules|grafana FILES...")
    src, mode = sys.argv[1], sys.argv[2]
    if mode == "rules":
        check_rules(src, sys.argv[3], sys.argv[4])
    elif mode == "grafana":
        check_grafana(src, sys.argv[3])
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
