#!/usr/bin/env bash
# Host configuration side by side: tend's SSH provider against Ansible on the same 10 Debian
# test hosts (tests/fixtures/ssh: debootstrap bookworm containers running sshd, one per
# loopback address 127.2.0.x:22), 20 items per host: 10 files, 5 directories, 1 group,
# 2 users, 2 guarded commands. Each tool gets fresh hosts for its first converge, then a
# no-op run on the same hosts.
#
#   bench/ssh_vs_ansible.sh [BUILD_DIR]      (default build/; needs root, dockerd, debootstrap)
#
# Ansible runs as an operator would tune it: pipelining on, ControlPersist 60 s, forks 10,
# strict host keys (the run's known_hosts), facts gathered (the default). tend is timed as
# `tendd --once` (a process start, spec load, SSH connects, the pass) and, for the no-op,
# also as the daemon's steady state (`tendctl reconcile --now --wait` against a running
# tendd whose sessions are open). Hosts get python3 for Ansible (tend does not need it).
# Everything stays on loopback; the containers are removed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
HOSTS=10
TENDD="$BUILD/daemon/tendd"
TENDCTL="$BUILD/daemon/tendctl"
[ -x "$TENDD" ] && [ -x "$TENDCTL" ] || { echo "build tend first (deploy/quickstart.sh build)" >&2; exit 1; }
command -v ansible-playbook >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible >/dev/null
export TEND_TEST_HOST_EXTRA_PKGS=python3

WORK=$(mktemp -d /tmp/tend-ssh-vs-ansible.XXXXXX)
TENDD_PID=""
cleanup() {
  [ -n "$TENDD_PID" ] && kill "$TENDD_PID" 2>/dev/null && wait "$TENDD_PID" 2>/dev/null || true
  for r in "$WORK"/hosts-*; do [ -d "$r" ] && "$ROOT/tests/fixtures/ssh/test-hosts.sh" stop "$r" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

start_hosts() {  # RUNDIR
  "$ROOT/tests/fixtures/ssh/test-hosts.sh" start "$1" "$HOSTS" >/dev/null
}

# ---- Ansible ------------------------------------------------------------------------------
A="$WORK/hosts-ansible"
start_hosts "$A"
mkdir -p "$WORK/ansible"
{
  echo "[bench]"
  while read -r name addr _; do
    echo "$name ansible_host=$addr ansible_user=root ansible_ssh_private_key_file=$A/id_ed25519"
  done <"$A/hosts"
} >"$WORK/ansible/inventory.ini"
cat >"$WORK/ansible/ansible.cfg" <<EOF
[defaults]
inventory = $WORK/ansible/inventory.ini
host_key_checking = True
forks = $HOSTS
interpreter_python = /usr/bin/python3
stdout_callback = default
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$A/known_hosts
control_path_dir = $WORK/ansible/cp
EOF
{
  echo "- hosts: bench"
  echo "  tasks:"
  echo "    - ansible.builtin.group: { name: benchgrp, gid: 3000 }"
  for u in 1 2; do echo "    - ansible.builtin.user: { name: bench$u, uid: 300$u, groups: [benchgrp] }"; done
  for d in 1 2 3 4 5; do echo "    - ansible.builtin.file: { path: /srv/bench-d$d, state: directory, mode: '0755' }"; done
  for f in $(seq 1 10); do
    echo "    - ansible.builtin.copy: { dest: /etc/bench-f$f.conf, content: \"value $f\\n\", mode: '0644' }"
  done
  for c in 1 2; do echo "    - ansible.builtin.command: { cmd: 'touch /var/tmp/c$c.done', creates: /var/tmp/c$c.done }"; done
} >"$WORK/ansible/play.yml"
export ANSIBLE_CONFIG="$WORK/ansible/ansible.cfg"
t0=$(now)
ansible-playbook "$WORK/ansible/play.yml" >"$WORK/ansible/first.log" 2>&1 || { tail -30 "$WORK/ansible/first.log"; exit 1; }
t1=$(now)
ansible-playbook "$WORK/ansible/play.yml" >"$WORK/ansible/noop.log" 2>&1 || { tail -30 "$WORK/ansible/noop.log"; exit 1; }
t2=$(now)
grep -q "changed=0" "$WORK/ansible/noop.log" || echo "warning: ansible's second run changed something" >&2
ANS_FIRST=$(elapsed "$t0" "$t1")
ANS_NOOP=$(elapsed "$t1" "$t2")
"$ROOT/tests/fixtures/ssh/test-hosts.sh" stop "$A"

# ---- tend ---------------------------------------------------------------------------------
T="$WORK/hosts-tend"
start_hosts "$T"
SPEC="$WORK/spec"
mkdir -p "$SPEC"
cat >"$SPEC/environment.yml" <<EOF
environment: bench
network: { cidr: 127.0.0.0/8 }
providers:
  ssh:
    user: root
    private_key_file: $T/id_ed25519
    known_hosts_file: $T/known_hosts
    connect_timeout: 5s
EOF
{
  echo "hosts:"
  while read -r name addr _; do echo "  $name: { address: $addr, groups: [bench] }"; done <"$T/hosts"
  echo "groups:"
  echo "  bench:"
  echo "    unix_groups: { benchgrp: { gid: 3000 } }"
  echo "    users:"
  for u in 1 2; do echo "      bench$u: { uid: 300$u, groups: [benchgrp] }"; done
  echo "    directories:"
  for d in 1 2 3 4 5; do echo "      /srv/bench-d$d: { mode: \"0755\" }"; done
  echo "    files:"
  for f in $(seq 1 10); do echo "      /etc/bench-f$f.conf: { content: \"value $f\\n\", mode: \"0644\" }"; done
  echo "    commands:"
  for c in 1 2; do echo "      c$c: { run: \"touch /var/tmp/c$c.done\", creates: /var/tmp/c$c.done }"; done
} >"$SPEC/hosts.yml"
"$TENDCTL" validate "$SPEC" >/dev/null
run_once() {
  "$TENDD" --spec "$SPEC" --state "$WORK/tend.db" --socket "$WORK/tendd.sock" --listen off --once \
    >>"$WORK/tendd.log" 2>&1
}
t0=$(now)
run_once || { tail -30 "$WORK/tendd.log"; exit 1; }
t1=$(now)
run_once || { tail -30 "$WORK/tendd.log"; exit 1; }
t2=$(now)
TEND_FIRST=$(elapsed "$t0" "$t1")
TEND_ONCE_NOOP=$(elapsed "$t1" "$t2")
# The daemon's steady state: sessions open, a no-op pass on demand.
# TEND_BENCH_WORKERS: tendd --workers for the running daemon (default: tendd's own, 8).
"$TENDD" --spec "$SPEC" --state "$WORK/tend.db" --socket "$WORK/tendd.sock" --listen off \
  ${TEND_BENCH_WORKERS:+--workers "$TEND_BENCH_WORKERS"} >>"$WORK/tendd.log" 2>&1 &
TENDD_PID=$!
for _ in $(seq 1 100); do "$TENDCTL" --socket "$WORK/tendd.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
"$TENDCTL" --socket "$WORK/tendd.sock" reconcile --now --wait >/dev/null
passes=()
for _ in 1 2 3 4 5; do
  a=$(now)
  "$TENDCTL" --socket "$WORK/tendd.sock" reconcile --now --wait >/dev/null
  passes+=("$(elapsed "$a" "$(now)")")
done
TEND_DAEMON_NOOP=$(printf '%s\n' "${passes[@]}" | sort -n | sed -n 3p)

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9):.0f}')" "$1" "$2"; }
echo
echo "$HOSTS hosts x 20 items (10 files, 5 directories, 1 group, 2 users, 2 guarded commands)"
printf '%-42s %10s\n' "run" "seconds"
printf '%-42s %10s\n' "ansible-playbook, first converge" "$ANS_FIRST"
printf '%-42s %10s\n' "ansible-playbook, no-op" "$ANS_NOOP"
printf '%-42s %10s\n' "tendd --once, first converge" "$TEND_FIRST"
printf '%-42s %10s\n' "tendd --once, no-op (process start to exit)" "$TEND_ONCE_NOOP"
printf '%-42s %10s\n' "tendd running, no-op pass (median of 5)" "$TEND_DAEMON_NOOP"
echo "no-op: tendd --once is $(ratio "$ANS_NOOP" "$TEND_ONCE_NOOP")x faster, the running daemon $(ratio "$ANS_NOOP" "$TEND_DAEMON_NOOP")x"
echo "first converge: tend $(ratio "$ANS_FIRST" "$TEND_FIRST")x of Ansible's speed (>= 1 means not slower)"
