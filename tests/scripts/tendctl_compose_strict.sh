#!/usr/bin/env bash
# Compose interpolation through tendctl validate: `.env` beside the Compose file supplies
# variables; an unset one is a located warning (the value blank) and an error under --strict;
# ${VAR:?msg} is a located error; tend's own ${environment.*} keeps working in Compose files.
source "$(dirname "$0")/daemon_lib.sh"

SPEC=$WORK/spec
mkdir -p "$SPEC/app"
cat >"$SPEC/environment.yml" <<'YML'
environment: stricttest
YML
cat >"$SPEC/hosts.yml" <<'YML'
hosts:
  h: { address: 127.0.0.1 }
YML
cat >"$SPEC/apps.yml" <<'YML'
apps:
  web: { host: h, compose: app/compose.yaml }
YML
cat >"$SPEC/app/.env" <<'ENV'
TAG=1.36
PORT=18080
ENV
cat >"$SPEC/app/compose.yaml" <<'YML'
services:
  web:
    image: busybox:${TAG}
    ports: ["${PORT}:80"]
    environment:
      MODE: ${MODE:-production}
      NOT_SET: ${NOT_SET_ANYWHERE}
      NAME: ${environment.name}
YML

"$TENDCTL" validate "$SPEC" >"$WORK/ok.out" 2>"$WORK/ok.err" || fail "validate should pass with a warning: $(cat "$WORK/ok.err")"
grep -q "compose.yaml:7:.*variable 'NOT_SET_ANYWHERE' is not set" "$WORK/ok.err" || fail "unset warning with its location: $(cat "$WORK/ok.err")"
pass "unset variable: located warning, validate passes"

set +e
"$TENDCTL" validate --strict "$SPEC" >"$WORK/strict.out" 2>"$WORK/strict.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "validate --strict should exit 1, got $rc"
grep -q "compose.yaml:7:.*NOT_SET_ANYWHERE" "$WORK/strict.err" || fail "strict error with its location: $(cat "$WORK/strict.err")"
pass "validate --strict: an unset variable is an error"

sed -i 's/NOT_SET: .*/NOT_SET: ${NOT_SET_ANYWHERE:?set it in .env}/' "$SPEC/app/compose.yaml"
set +e
"$TENDCTL" validate "$SPEC" >"$WORK/req.out" 2>"$WORK/req.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "\${VAR:?} unset should fail validate, got $rc"
grep -q "compose.yaml:7:.*required variable NOT_SET_ANYWHERE is missing a value: set it in .env" "$WORK/req.err" || fail "required: $(cat "$WORK/req.err")"
pass "\${VAR:?msg}: located error with the message"

sed -i 's/NOT_SET: .*/NOT_SET: "$${LITERAL}"/' "$SPEC/app/compose.yaml"
"$TENDCTL" plan --offline "$SPEC" --state "$WORK/none.db" --output json >"$WORK/plan.json" || fail "plan --offline"
python3 - "$WORK/plan.json" <<'PY' || fail "plan content: $(head -c 2000 "$WORK/plan.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
ids = [r["id"] for r in rows]
assert "container/web/web" in ids, ids
assert "image/h/busybox:1.36" in ids, ids
PY
"$TENDCTL" validate --strict "$SPEC" >/dev/null 2>&1 || fail "no unset variable left: --strict passes"
pass "\$\$ escapes and values from .env: validate --strict passes, image tag from .env"
