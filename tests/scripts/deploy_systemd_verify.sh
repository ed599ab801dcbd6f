#!/usr/bin/env bash
# deploy/tend.service: `systemd-analyze verify` is clean (no warnings either), the hardening
# the README promises is present, the offline exposure score stays low, and every flag in
# ExecStart is one the built tendd accepts.
# Usage: deploy_systemd_verify.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
UNIT=$SRC/deploy/tend.service
TENDD=$BUILD/daemon/tendd
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

command -v systemd-analyze >/dev/null ||
  { echo "SKIP: systemd-analyze not installed (Debian package 'systemd', see deploy/install-deps.sh)"; exit 0; }
[ -f "$UNIT" ] || fail "$UNIT missing"
[ -x "$TENDD" ] || fail "$TENDD not built (make tendd): verify needs the ExecStart binary"

WORK=$(mktemp -d /tmp/tend-deploy-systemd-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

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
  'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' \
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
  awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || fail "exposure score $score > 2.5"
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

# The sysusers snippet the unit's User= relies on parses.
if [ -f "$SRC/deploy/tend.sysusers.conf" ] && command -v systemd-sysusers >/dev/null; then
  mkdir -p "$WORK/root/etc"
  out=$(systemd-sysusers --root="$WORK/root" "$SRC/deploy/tend.sysusers.conf" 2>&1) ||
    fail "systemd-sysusers rejected tend.sysusers.conf: $out"
  grep -q '^tend:' "$WORK/root/etc/passwd" || fail "tend.sysusers.conf did not create user tend"
  pass "tend.sysusers.conf creates user tend"
fi
