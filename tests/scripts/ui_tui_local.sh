#!/usr/bin/env bash
# tendctl ui against the real tendd (real loader, engine, SQLite state, Docker provider) on a
# copy of specs/local in --dry-run (it observes the local Docker Engine and plans, never
# changes anything, so it cannot disturb a demo running beside it): apps and their resources
# on screen, a detail with its dependencies, the plan, reconcile over the unix socket, quit.
source "$(dirname "$0")/daemon_lib.sh"
need tmux docker
"$SRC/tests/fixtures/docker/ensure-dockerd.sh" >"$WORK/dockerd.txt" 2>&1 || skip "no Docker daemon: $(tail -1 "$WORK/dockerd.txt")"
mkdir -p "$WORK/specs" "$WORK/var/bind"
cp -r "$SRC/specs/local" "$WORK/specs/local"
SOCK=$WORK/tendd.sock
"$TENDD" --spec "$WORK/specs/local" --state "$WORK/state/tend.db" --listen off --socket "$SOCK" --dry-run \
  >"$WORK/tendd.log" 2>&1 &
PIDS+=($!)
wait_for "$TENDCTL" --socket "$SOCK" status || fail "tendd did not come up"
TS=tend-uil-$$-$RANDOM
trap 'tmux -L "$TS" kill-server 2>/dev/null || true; cleanup' EXIT
screen() { tmux -L "$TS" capture-pane -p -t ui; }
wait_screen() {
  for _ in $(seq 1 150); do screen | grep -Eq "$1" && return 0; sleep 0.2; done
  screen >&2
  fail "$2: screen never showed /$1/"
}
keys() { tmux -L "$TS" send-keys -t ui "$@"; }
tmux -L "$TS" new-session -d -s ui -x 80 -y 24 "TERM=xterm $TENDCTL --socket $SOCK ui; echo UI-EXIT=\$?; sleep 30"
wait_screen "\[live\]" "stream connected"
wait_screen "^  hello" "app hello"
wait_screen "container/hello/web" "resource row"
keys / C-u "app:hello web" Enter
wait_screen "filter: app:hello web \(1\)" "filter"
keys Enter
wait_screen "depends on:" "detail"
wait_screen "container/hello/content" "dependency of hello/web"
wait_screen "declared at: .*apps.yml:[0-9]+" "declared at"
# Further down the detail: where each value comes from (tendctl explain, from the daemon).
found=""
for _ in $(seq 1 8); do
  if screen | grep -Eq "image = .*\(.*apps.yml:[0-9]+\)"; then found=1; break; fi
  keys NPage; sleep 0.3
done
[ -n "$found" ] || { screen >&2; fail "detail: the explain lines (image = ... (apps.yml:N)) never showed"; }
keys r; sleep 0.3; keys r
wait_screen "run [0-9]+ (started|finished|queued)|pass queued" "reconcile over the socket"
keys Escape; sleep 0.3; keys p
wait_screen "to create, .* unchanged" "plan"
keys Escape; sleep 0.3; keys q
wait_screen "UI-EXIT=0" "quit"
pass "tendctl ui on specs/local (dry run): apps, filter, detail (with explain), reconcile, plan, quit"
