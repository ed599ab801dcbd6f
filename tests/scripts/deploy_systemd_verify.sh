#!/usr/bin/env bash
# deploy/tend.service: `systemd-analyze verify` is clean (no warnings either), the hardening
# the README promises is present, the offline exposure score stays low, and every flag in
# ExecStart is one the built tendd accepts.
# Usage: deploy_systemd_verify.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
UNIT=$SRC/deploy/tend.service
TENDD=$(cd "$BUILD" 2>/dev/null && pwd)/daemon/tendd  # absolute: ExecStart needs it
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

source "$(dirname "$0")/skip_lib.sh"
need systemd-analyze
[ -f "$UNIT" ] || fail "$UNIT missing"
[ -x "$TENDD" ] || fail "$TENDD not built (make tendd): verify needs the ExecStart binary"

WORK=$(mktemp -d /tmp/tend-deploy-systemd-XXXXXX)
DAEMON_PID=
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# verify insists the ExecStart binary exists, so check a copy pointed at the built tendd.
# The unit name must stay tend.service (%N, credentials dir).
grep -q '^ExecStart=/usr/local/bin/tendd ' "$UNIT" || fail "ExecStart must run /usr/local/bin/tendd"
sed "s#^ExecStart=/usr/local/bin/tendd #ExecStart=$TENDD #" "$UNIT" >"$WORK/tend.service"
# Unknown keys and bad values are only warnings with exit 0, so any output is a failure.
if ! out=$(cd "$WORK" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no ./tend.service 2>&1); then
  fail "systemd-analyze verify failed: $out"
fi
[ -z "$out" ] || fail "systemd-analyze verify printed warnings: $out"
pass "systemd-analyze verify: clean"

# The directives the deployment story depends on (a regression here would silently weaken it).
for want in 'Type=notify' 'WatchdogSec=' 'StateDirectory=tend' 'RuntimeDirectory=tend' \
  'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
  'PrivateMounts=yes' 'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' \
  'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
  'CapabilityBoundingSet=' 'LoadCredential=age.key:' 'LoadCredential=token:' \
  'Environment=TEND_AGE_KEY_FILE=%d/age.key' 'ReadWritePaths=' 'Restart=on-failure' \
  'ExecReload=/bin/kill -HUP $MAINPID' 'SupplementaryGroups=docker'; do
  # a line starting with the text, literally
  awk -v w="$want" 'index($0, w) == 1 { f = 1 } END { exit !f }' "$UNIT" ||
    fail "tend.service lacks a line starting with '$want'"
done
grep -qx 'CapabilityBoundingSet=' "$UNIT" || fail "CapabilityBoundingSet= must be empty (no capabilities)"
pass "hardening directives present"

# Offline exposure score (0 = locked down, 10 = unprotected). systemd 252 has --offline.
if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
  sec=$(cd "$WORK" && SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=true --no-pager ./tend.service 2>&1 || true)
  score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for tend.service: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || fail "could not read the exposure score: $(printf '%s\n' "$sec" | tail -5)"
  awk -v s="$score" 'BEGIN { exit !(s <= 1.3) }' || fail "exposure score $score > 1.3 (it was 1.3 with PrivateMounts=yes)"
  pass "systemd-analyze security --offline: exposure $score"
fi

# Every --flag in ExecStart must be one tendd knows (the unit and the binary stay in step).
help=$("$TENDD" --help 2>&1) || fail "tendd --help failed: $help"
flags=$(sed -n '/^ExecStart=/,/^[^ ]/p' "$UNIT" | grep -o -- '--[a-z][a-z-]*' | sort -u)
[ -n "$flags" ] || fail "no flags found in ExecStart"
for f in $flags; do
  printf '%s\n' "$help" | grep -q -- "$f" || fail "ExecStart uses $f, which tendd --help does not list"
done
pass "ExecStart flags known to tendd: $(echo $flags)"

# Smoke run: the unit's ExecStart command line, with systemd's substitutions done by hand
# (state/runtime/credentials directories in a temp dir, a free port instead of 9469),
# starts a working daemon that puts its database and socket where the unit expects.
cmd=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT" | sed 's/^ExecStart=//; s/\\$//' | tr '\n' ' ')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/state" "$WORK/run" "$WORK/creds" "$WORK/spec"
printf 'environment: unittest\nreconcile: { interval: 1h }\n' >"$WORK/spec/environment.yml"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/creds/token"
cmd=${cmd//\$\{STATE_DIRECTORY\}/$WORK/state}
cmd=${cmd//\$\{RUNTIME_DIRECTORY\}/$WORK/run}
cmd=${cmd//%d/$WORK/creds}
cmd=${cmd//\/etc\/tend\/spec/$WORK/spec}
cmd=${cmd//127.0.0.1:9469/127.0.0.1:$PORT}
cmd=${cmd//\/usr\/local\/bin\/tendd/$TENDD}
STATE_DIRECTORY=$WORK/state RUNTIME_DIRECTORY=$WORK/run TEND_AGE_KEY_FILE=$WORK/creds/age.key \
  $cmd >"$WORK/tendd.log" 2>&1 &
DAEMON_PID=$!
ok=
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ok" ] || fail "tendd with the unit's ExecStart did not serve /healthz: $(tail -5 "$WORK/tendd.log")"
[ -S "$WORK/run/tendd.sock" ] || fail "no unix socket at \${RUNTIME_DIRECTORY}/tendd.sock"
[ -f "$WORK/state/tend.db" ] || fail "no state database at \${STATE_DIRECTORY}/tend.db"
head -1 "$WORK/tendd.log" | python3 -c 'import json,sys; json.loads(sys.stdin.readline())' 2>/dev/null ||
  fail "--log-format json did not produce JSON lines: $(head -1 "$WORK/tendd.log")"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" && rc=0 || rc=$?
DAEMON_PID=
[ "$rc" = 0 ] || fail "tendd exited $rc on SIGTERM (systemd would count that as a failure)"
pass "ExecStart command line runs: /healthz, socket, state db, JSON logs, clean SIGTERM"

# The sysusers snippet the unit's User= relies on parses.
if [ -f "$SRC/deploy/tend.sysusers.conf" ] && command -v systemd-sysusers >/dev/null; then
  mkdir -p "$WORK/root/etc"
  out=$(systemd-sysusers --root="$WORK/root" "$SRC/deploy/tend.sysusers.conf" 2>&1) ||
    fail "systemd-sysusers rejected tend.sysusers.conf: $out"
  grep -q '^tend:' "$WORK/root/etc/passwd" || fail "tend.sysusers.conf did not create user tend"
  pass "tend.sysusers.conf creates user tend"
fi
