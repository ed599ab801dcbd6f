#!/usr/bin/env bash
# Git as the spec source: a bare repository served by `git daemon` on loopback; tendd follows it,
# `tendctl reconcile --now` applies a pushed commit, a broken commit is never applied, and the
# webhook route checks HMAC signatures (GitHub and Gitea formats).
source "$(dirname "$0")/daemon_lib.sh"
need git openssl

GPORT=$(free_port)
mkdir -p "$WORK/srv"
git init -q --bare -b main "$WORK/srv/specs.git"
touch "$WORK/srv/specs.git/git-daemon-export-ok"
git daemon --reuseaddr --listen=127.0.0.1 --port=$GPORT --base-path="$WORK/srv" --export-all \
  --enable=receive-pack "$WORK/srv" >"$WORK/gitd.log" 2>&1 &
PIDS+=($!)
URL=git://127.0.0.1:$GPORT/specs.git

git init -q -b main "$WORK/laptop"
cd "$WORK/laptop"
git config user.email t@example.test
git config user.name tester
mkdir -p envs/lab
printf 'environment: lab\nreconcile: { interval: 1h }\n' >envs/lab/environment.yml
git add -A && git commit -qm first
wait_for git push -q "$URL" main || fail "push to git daemon"
C1=$(git rev-parse HEAD)

PORT=$(free_port)
SOCK=$WORK/tendd.sock
printf 'hook-secret' >"$WORK/hook"
"$TENDD" --spec-git "$URL" --spec-branch main --spec-path envs/lab --git-poll 1h \
  --webhook-secret-file "$WORK/hook" --state "$WORK/state/tend.db" --listen 127.0.0.1:$PORT \
  --socket "$SOCK" >"$WORK/tendd.log" 2>&1 &
PIDS+=($!)
status() { curl -fsS "http://127.0.0.1:$PORT/v1/status"; }
wait_for curl -fsS "http://127.0.0.1:$PORT/readyz" || fail "tendd (git) never became ready"
[ "$(status | json 'd["revision"]')" = "$C1" ] || fail "revision should be the cloned commit $C1"
pass "clone and apply the first commit"

# push, then reconcile --now applies the pushed commit
printf 'environment: lab\nreconcile: { interval: 30m }\n' >envs/lab/environment.yml
git commit -qam second && git push -q "$URL" main
C2=$(git rev-parse HEAD)
"$TENDCTL" --socket "$SOCK" reconcile --now --wait >/dev/null || fail "reconcile --wait"
[ "$(status | json 'd["revision"]')" = "$C2" ] || fail "reconcile --now should apply the pushed commit $C2"
pass "push + reconcile --now applies the commit"

# a broken commit is never applied
echo "not_a_key: true" >>envs/lab/environment.yml
git commit -qam broken && git push -q "$URL" main
"$TENDCTL" --socket "$SOCK" reconcile --now --wait >/dev/null 2>&1 || true
[ "$(status | json 'd["revision"]')" = "$C2" ] || fail "the broken commit must not be applied"
status | json 'd["spec_error"]' | grep -q "environment.yml" || fail "spec_error should name the file"
pass "broken commit kept out"

# webhook: bad signature 401, good GitHub and Gitea signatures 202 and the fix gets applied
printf 'environment: lab\nreconcile: { interval: 20m }\n' >envs/lab/environment.yml
git commit -qam fixed && git push -q "$URL" main
C4=$(git rev-parse HEAD)
BODY='{"ref":"refs/heads/main"}'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Hub-Signature-256: sha256=deadbeef' \
  -d "$BODY" "http://127.0.0.1:$PORT/v1/hooks/git")
[ "$code" = 401 ] || fail "bad signature should be 401, got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "$BODY" "http://127.0.0.1:$PORT/v1/hooks/git")
[ "$code" = 401 ] || fail "missing signature should be 401, got $code"
SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac hook-secret -r | cut -d' ' -f1)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Hub-Signature-256: sha256=$SIG" \
  -d "$BODY" "http://127.0.0.1:$PORT/v1/hooks/git")
[ "$code" = 202 ] || fail "GitHub signature should be accepted, got $code"
wait_for sh -c "curl -fsS http://127.0.0.1:$PORT/v1/status | grep -q '\"revision\":\"$C4\"'" || fail "hook should apply $C4"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Gitea-Signature: $SIG" \
  -d "$BODY" "http://127.0.0.1:$PORT/v1/hooks/git")
[ "$code" = 202 ] || fail "Gitea signature should be accepted, got $code"
pass "webhook HMAC (GitHub, Gitea)"
