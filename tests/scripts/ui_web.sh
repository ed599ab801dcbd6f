#!/usr/bin/env bash
# The web page at / in headless Chromium (tests/scripts/ui_web_check.py) against 10,000 fake
# resources that keep changing; plus what needs no browser: the server-rendered table without
# JavaScript, paging, the security headers, the embedded assets, the SSE stream's framing.
source "$(dirname "$0")/ui_lib.sh"
need chromium

# --- without JavaScript: the table is in the HTML, paged
curl -fsS -D "$WORK/h.txt" "$BASE/" -o "$WORK/index.html" || fail "GET /"
grep -qi '^content-type: text/html; charset=utf-8' "$WORK/h.txt" || fail "page content type"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$WORK/h.txt" || fail "CSP header"
grep -qi '^x-content-type-options: nosniff' "$WORK/h.txt" || fail "nosniff"
grep -q 'id="resource-table"' "$WORK/index.html" || fail "no server-rendered table"
rows=$(grep -o '<tr><td><a href="/#/r/' "$WORK/index.html" | wc -l)
[ "$rows" -eq 200 ] || fail "first page should hold 200 rows, got $rows"
grep -q "page 1 of " "$WORK/index.html" || fail "pager"
curl -fsS "$BASE/?phase=failed" | grep -q 'container/app1/db</a>' || fail "phase filter without JS"
curl -fsS "$BASE/?q=app2%2Fweb" | grep -q '1 of ' || fail "text filter without JS"
grep -q '<script src="/ui/app.js"' "$WORK/index.html" || fail "script tag"
grep -qi '<script>' "$WORK/index.html" && fail "inline script in the page"
curl -fsS -D "$WORK/h2.txt" "$BASE/ui/app.js" -o /dev/null || fail "app.js"
grep -qi '^content-type: text/javascript' "$WORK/h2.txt" || fail "app.js content type"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ui/nope.js")" = 404 ] || fail "unknown asset should 404"
# Nothing is fetched from elsewhere (the SVG namespace is a name, not a fetch).
curl -fsS "$BASE/ui/app.js" "$BASE/ui/app.css" | grep -v 'http://www.w3.org/2000/svg' | grep -q "https\?://" &&
  fail "assets must not load anything from elsewhere"
pass "page without JavaScript: paged table, filters, CSP, embedded assets"

# --- the event stream: SSE framing, ids, status snapshot (curl stops after 3 s)
curl -sN -m 3 -H 'Accept: text/event-stream' "$BASE/v1/events?status=1&since=0" >"$WORK/sse.txt" || true
grep -q '^retry: ' "$WORK/sse.txt" || fail "stream preamble"
grep -q '^id: 1$' "$WORK/sse.txt" || fail "events carry their id"
grep -q '^event: status$' "$WORK/sse.txt" || fail "status snapshot"
grep -m1 -A1 '^event: status$' "$WORK/sse.txt" | grep -q '"full":true' || fail "first status message is full"
curl -fsS "$BASE/v1/events?since=0&limit=2" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d, list) and len(d) == 2' ||
  fail "plain GET /v1/events is still the JSON list"
pass "event stream"

python3 "$SRC/tests/scripts/ui_web_check.py" "$BASE" "$TOKEN" "$WORK" || fail "browser checks"
[ -n "${UI_SCREENSHOTS:-}" ] && cp "$WORK"/*.png "$UI_SCREENSHOTS"/ 2>/dev/null
pass "web page in headless Chromium"
