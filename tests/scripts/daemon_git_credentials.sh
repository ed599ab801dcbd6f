#!/usr/bin/env bash
# --spec-git with credentials in the URL (http://user:token@host/...): the clone works (git
# gets them from a credential helper), and the token is never shown: not in the log, status,
# events, the clone's config or git's command line; the clone directory is the daemon's only.
source "$(dirname "$0")/daemon_lib.sh"

TOKEN=tok-$RANDOM-canary-9d2f
mkdir -p "$WORK/srv"
git init -q --bare -b main "$WORK/srv/specs.git"
git init -q -b main "$WORK/laptop"
(cd "$WORK/laptop" && git config user.email t@example.test && git config user.name tester &&
  printf 'environment: lab\nreconcile: { interval: 1h }\n' >environment.yml &&
  git add -A && git commit -qm first && git push -q "$WORK/srv/specs.git" main)
git --git-dir="$WORK/srv/specs.git" update-server-info
C1=$(git --git-dir="$WORK/srv/specs.git" rev-parse main)

# Git's dumb HTTP protocol from a static server that wants Basic auth (tester:$TOKEN).
GPORT=$(free_port)
cat >"$WORK/srv.py" <<'PY'
import base64, functools, http.server, sys
port, root, want = int(sys.argv[1]), sys.argv[2], "Basic " + base64.b64encode(sys.argv[3].encode()).decode()
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401); self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0"); self.end_headers(); return
        super().do_GET()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(H, directory=root)).serve_forever()
PY
python3 "$WORK/srv.py" "$GPORT" "$WORK/srv" "tester:$TOKEN" >"$WORK/httpd.log" 2>&1 &
PIDS+=($!)
wait_for curl -fsS -u "tester:$TOKEN" "http://127.0.0.1:$GPORT/specs.git/HEAD" || fail "git http server"

check_no_token() {  # $1: what
  for f in "$WORK"/*.log; do grep -q -- "$TOKEN" "$f" && fail "$1: token in $(basename "$f")"; done
  curl -fsS "http://127.0.0.1:$PORT/v1/status" | grep -q -- "$TOKEN" && fail "$1: token in /v1/status"
  curl -fsS "http://127.0.0.1:$PORT/v1/events?since=0" | grep -q -- "$TOKEN" && fail "$1: token in /v1/events"
  grep -rqs -- "$TOKEN" "$WORK/state/spec-git/repo.git/config" && fail "$1: token in the clone's config"
  return 0
}

PORT=$(free_port)
start_tendd() {  # $1: log file; follows the repository with $TOKEN in the URL
  "$TENDD" --spec-git "http://tester:$TOKEN@127.0.0.1:$GPORT/specs.git" --git-poll 1h \
    --state "$WORK/state/tend.db" --listen 127.0.0.1:$PORT --socket "$WORK/tendd.sock" >"$1" 2>&1 &
  TPID=$!
  PIDS+=($TPID)
}
start_tendd "$WORK/tendd.log"
wait_for curl -fsS "http://127.0.0.1:$PORT/readyz" || fail "tendd never became ready with a credential URL"
[ "$(curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["revision"]')" = "$C1" ] || fail "revision should be $C1"
curl -fsS "http://127.0.0.1:$PORT/v1/status" | json 'd["spec_source"]' | grep -q "^http://127.0.0.1:$GPORT/specs.git" ||
  fail "spec_source should be the URL without userinfo"
check_no_token "credential URL"
[ "$(stat -c %a "$WORK/state/spec-git")" = 700 ] || fail "spec-git directory should be 0700"
[ "$(stat -c %a "$WORK/state")" = 700 ] || fail "a state directory tendd creates should be 0700"
pass "credential URL: clone works, token nowhere, clone directory 0700"

kill "$TPID"; wait "$TPID" 2>/dev/null || true
# A wrong token: the error reaches status and the log, the token (even a 3-byte one) does not.
rm -rf "$WORK/state"
TOKEN=Zq7
start_tendd "$WORK/tendd2.log"
wait_for sh -c "curl -fsS http://127.0.0.1:$PORT/v1/status | grep -q '\"spec_error\":\"'" || fail "a refused clone should be a spec_error"
check_no_token "wrong credentials"
grep -q "127.0.0.1:$GPORT/specs.git" "$WORK/tendd2.log" || fail "the log should name the repository"
pass "wrong credentials reported without them"
