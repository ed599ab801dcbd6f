#!/usr/bin/env bash
# tendctl ui in an 80x24 tmux pane against 10,000 fake resources that keep changing (the churn
# server, tests/scripts/ui_lib.sh): the live list by tier and app, "/" filters, a detail with
# dependencies up and down, the blocked chain and the plan diff, "r" reconcile refused without
# the token and started with it, "p" the plan, "q" quits with exit 0.
source "$(dirname "$0")/ui_lib.sh"
need tmux
TS=tend-ui-$$-$RANDOM
UI_STARTS=0
trap 'tmux -L "$TS" kill-server 2>/dev/null || true; cleanup' EXIT
screen() { tmux -L "$TS" capture-pane -p -t ui; }
# wait_screen REGEX WHAT: up to 20 s
wait_screen() {
  for _ in $(seq 1 100); do screen | grep -Eq "$1" && return 0; sleep 0.2; done
  screen >&2
  fail "$2: screen never showed /$1/"
}
keys() { tmux -L "$TS" send-keys -t ui "$@"; }
start_ui() {
  tmux -L "$TS" kill-server 2>/dev/null || true
  # A server of its own each time: kill-server returns before the old server is gone, and a
  # new session on the same socket could reach the dying one ("server exited unexpectedly").
  TS=tend-ui-$$-$RANDOM-$((++UI_STARTS))
  tmux -L "$TS" new-session -d -s ui -x 80 -y 24 \
    "TERM=xterm-256color $TENDCTL --url $BASE $* ui; echo UI-EXIT=\$?; sleep 30"
}

# --- without a token: everything reads, reconcile is refused
start_ui
wait_screen "$N resources:|1000[0-9] resources:" "live list"
wait_screen "== tier networking" "tier header"
wait_screen "\[live\]" "stream connected"
keys r; sleep 0.3; keys r
wait_screen "reconcile refused \(HTTP 401\)" "reconcile without a token"
pass "list by tier and app, reconcile refused without the token"

# --- with the token
start_ui --token-file "$WORK/token"
wait_screen "\[live\]" "stream connected"
keys / C-u "phase:failed" Enter
wait_screen "filter: phase:failed \(1\)" "filter"
wait_screen "container/app1/db +failed" "filtered row"
keys Enter
wait_screen "exited with code 3" "detail"
wait_screen "needed by:" "detail dependents"
wait_screen "create: absent" "detail plan"
keys Escape; sleep 0.3
keys / C-u "app2/web" Enter
wait_screen "filter: app2/web \(1\)" "text filter"
keys Enter
wait_screen "blocked by: +-> container/app1/web \(blocked\) -> container/app1/db \(failed\)" "blocked chain"
n0=$(curl -fsS "$BASE/v1/runs?limit=1" | json 'd[0]["id"] if d else 0')
keys r; sleep 0.3; keys r
wait_screen "run [0-9]+ (started|finished|queued)|pass queued" "reconcile one resource"
n1=$(curl -fsS "$BASE/v1/runs?limit=1" | json 'd[0]["id"] if d else 0')
[ "$n1" -gt "$n0" ] || fail "reconcile from the UI started no run ($n0 -> $n1)"
keys Escape; sleep 0.3
keys p
wait_screen "1 to replace" "plan"
wait_screen "replace +container/app3/web" "plan row"
wait_screen "image: \"local/busybox:1.35\" -> \"local/busybox:1.36\"" "plan diff"
keys Escape; sleep 0.3
keys / C-u Enter
# Still live after all that churn: the counts line keeps changing.
a=$(screen | sed -n 2p); sleep 2.5; b=$(screen | sed -n 2p)
[ "$a" != "$b" ] || fail "the list stopped following the daemon ($a)"
keys q
wait_screen "UI-EXIT=0" "q quits with exit 0"
pass "filter, detail (deps, blocked chain, plan diff), reconcile, plan, live updates, q"
