#!/usr/bin/env bash
# The operator policy (outside the spec): by default a container that mounts the host's root
# is refused with the spec line's location by tendctl validate, plan --offline and tendd
# (which keeps it out like any invalid spec); an explicit --policy allows it, or forbids more.
source "$(dirname "$0")/daemon_lib.sh"

SPEC=$WORK/spec
mkdir -p "$SPEC"
cat >"$SPEC/environment.yml" <<'YML'
environment: pol
network: { cidr: 127.0.0.0/8 }
providers:
  docker: { transport: "unix:/nonexistent/docker.sock" }
YML
printf 'hosts:\n  local: { address: 127.0.0.1 }\n' >"$SPEC/hosts.yml"
cat >"$SPEC/apps.yml" <<'YML'
apps:
  box:
    host: local
    containers:
      root:
        image: busybox:1.36
        privileged: true
        volumes:
          - /:/host
YML
printf 'containers:\n  bind_mounts: { deny: [] }\n' >"$WORK/allow.yml"
printf 'containers:\n  privileged: false\n  bind_mounts: { deny: [] }\n' >"$WORK/strict.yml"
printf 'containers:\n  privileged: sometimes\n' >"$WORK/broken.yml"

rc=0; "$TENDCTL" validate "$SPEC" >"$WORK/v1.out" 2>"$WORK/v1.err" || rc=$?
[ $rc = 1 ] || fail "validate should refuse / mounted (rc $rc)"
grep -q "apps.yml:9:13: container/box/root: bind mount of / (the host's root filesystem) is refused by the default policy" \
  "$WORK/v1.err" || fail "refusal should be located at apps.yml:9:13: $(cat "$WORK/v1.err")"
rc=0; "$TENDCTL" plan --offline "$SPEC" --state "$WORK/none.db" >/dev/null 2>"$WORK/p1.err" || rc=$?
[ $rc = 1 ] && grep -q "apps.yml:9:13:" "$WORK/p1.err" || fail "plan --offline should refuse it too (rc $rc)"
"$TENDCTL" validate "$SPEC" --policy "$WORK/allow.yml" >/dev/null || fail "an explicit policy should allow it"
rc=0; "$TENDCTL" validate "$SPEC" --policy "$WORK/strict.yml" 2>"$WORK/v2.err" >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "apps.yml:7:.*a privileged container is refused by policy" "$WORK/v2.err" ||
  fail "a strict policy should refuse privileged: $(cat "$WORK/v2.err")"
rc=0; "$TENDCTL" validate "$SPEC" --policy "$WORK/broken.yml" 2>"$WORK/v3.err" >/dev/null || rc=$?
[ $rc = 1 ] && grep -q "broken.yml:2:" "$WORK/v3.err" || fail "a broken policy should be located: $(cat "$WORK/v3.err")"
pass "tendctl validate / plan --offline: default refuses / with its location, --policy decides"

rc=0; "$TENDD" --spec "$SPEC" --policy "$WORK/broken.yml" --once >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "tendd with a broken --policy should exit 2 (got $rc)"

PORT=$(free_port)
"$TENDD" --spec "$SPEC" --state "$WORK/state/tend.db" --listen 127.0.0.1:$PORT --socket "$WORK/t.sock" \
  --dry-run >"$WORK/tendd.log" 2>&1 &
PIDS+=($!)
wait_for sh -c "curl -fsS http://127.0.0.1:$PORT/v1/status | grep -q 'is refused by the default policy'" ||
  fail "tendd should report the refusal as spec_error"
curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["spec_error"]' | grep -q "apps.yml:9:13:" || fail "spec_error should be located"
[ "$(curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["revision"]')" = None ] || fail "a refused spec must not be applied"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

PORT=$(free_port)
"$TENDD" --spec "$SPEC" --state "$WORK/state2/tend.db" --listen 127.0.0.1:$PORT --socket "$WORK/t2.sock" \
  --dry-run --policy "$WORK/allow.yml" >"$WORK/tendd2.log" 2>&1 &
PIDS+=($!)
wait_for sh -c "curl -fsS http://127.0.0.1:$PORT/v1/status | grep -q '\"revision\":\"'" || fail "tendd --policy allow should apply the spec"
curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["spec_error"]' | grep -qx None || fail "no spec_error with the allowing policy"
pass "tendd: refused like an invalid spec by default, applied under an explicit policy"
