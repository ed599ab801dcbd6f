#!/usr/bin/env bash
# tendctl plan --offline against recorded SQLite state (CONTRACT.md: plan shows what a reconcile
# would do). The state database is created by a real `tendd --once` run; the applied hashes a
# finished apply would leave are then written into it (no provider server is needed), and the
# plan must show noop / update / create / delete for them, in text and JSON, with the contract's
# exit codes, without touching the database.
source "$(dirname "$0")/daemon_lib.sh"

SPEC=$WORK/spec
DB=$WORK/state/tend.db
mkdir -p "$SPEC"
cat >"$SPEC/environment.yml" <<'YML'
environment: plantest
reconcile: { interval: 1h }
YML
cat >"$SPEC/hosts.yml" <<'YML'
hosts:
  alpha: { address: 127.0.0.1 }
  bravo: { address: 127.0.0.2 }
  charlie: { address: 127.0.0.3 }
YML

# --- no state file yet: everything is created, and the file is not made
"$TENDCTL" plan --offline "$SPEC" --state "$DB" >"$WORK/fresh.txt" || fail "plan --offline on a fresh state should exit 0"
grep -q "fresh state" "$WORK/fresh.txt" || fail "fresh plan should say so: $(cat "$WORK/fresh.txt")"
grep -q "3 to create, 0 to update, 0 to delete, 0 unchanged" "$WORK/fresh.txt" || fail "fresh summary: $(cat "$WORK/fresh.txt")"
[ ! -e "$DB" ] || fail "plan --offline must not create the state file"
"$TENDCTL" plan --offline "$SPEC" --state "$DB" --output json >"$WORK/fresh.json" || fail "fresh json plan"
python3 - "$WORK/fresh.json" <<'PY' || fail "fresh json plan content"
import json, sys
rows = json.load(open(sys.argv[1]))
assert sorted(r["id"] for r in rows) == ["host/alpha", "host/bravo", "host/charlie"], rows
for r in rows:
    assert r["action"] == "create" and r["reason"] == "not in recorded state", r
    assert r["diff"]["hash"]["from"] is None and len(r["diff"]["hash"]["to"]) == 64, r
PY
pass "fresh state: every resource is created, no file made"

# --- record state with the real daemon, then the applied hashes of a finished apply
PORT=$(free_port)
"$TENDD" --spec "$SPEC" --state "$DB" --once --listen 127.0.0.1:$PORT --socket "$WORK/tendd.sock" \
  >"$WORK/tendd.log" 2>&1 || fail "tendd --once should succeed"
[ -s "$DB" ] || fail "tendd should have created the state database"
python3 - "$DB" "$WORK/fresh.json" <<'PY' || fail "writing recorded state"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
want = {r["id"]: r["diff"]["hash"]["to"] for r in json.load(open(sys.argv[2]))}
def record(rid, applied, desired, kind="host"):
    db.execute("""INSERT INTO resources(id, kind, desired_hash, last_applied_hash, phase, last_applied_unix)
                  VALUES(?, ?, ?, ?, 'ready', 1700000000)
                  ON CONFLICT(id) DO UPDATE SET desired_hash=excluded.desired_hash,
                    last_applied_hash=excluded.last_applied_hash, phase='ready', last_applied_unix=1700000000""",
               (rid, kind, desired, applied))
record("host/alpha", want["host/alpha"], want["host/alpha"])  # applied as in the spec: noop
record("host/bravo", "0" * 64, "0" * 64)                      # applied from an older spec: update
record("host/gone", "1" * 64, "1" * 64)                       # no longer in the spec: delete
record("image/alpha/busybox:old", "2" * 64, "2" * 64, "image")  # left the spec: docker keeps images
db.execute("DELETE FROM resources WHERE id = 'host/charlie'")  # never recorded: create
db.commit()
PY
before=$(sha256sum "$DB" | cut -d' ' -f1)

# --- text plan
set +e
"$TENDCTL" plan --offline "$SPEC" --state "$DB" >"$WORK/plan.txt" 2>"$WORK/plan.err"; rc=$?
set -e
[ $rc -eq 0 ] || fail "plan --offline should exit 0, got $rc: $(cat "$WORK/plan.err")"
grep -Eq '^noop +host/alpha +up to date$' "$WORK/plan.txt" || fail "alpha should be noop: $(cat "$WORK/plan.txt")"
grep -Eq '^update +host/bravo +spec changed since last apply$' "$WORK/plan.txt" || fail "bravo should be an update"
grep -Eq '^create +host/charlie +not in recorded state$' "$WORK/plan.txt" || fail "charlie should be created"
grep -Eq "^delete +host/gone +(no longer in the spec|left the spec)$" "$WORK/plan.txt" || fail "gone should be deleted: $(cat "$WORK/plan.txt")"
grep -Eq '^noop +image/alpha/busybox:old +images are kept' "$WORK/plan.txt" || fail "docker keeps images: $(cat "$WORK/plan.txt")"
grep -q "1 to create, 1 to update, 1 to delete, 2 unchanged" "$WORK/plan.txt" || fail "summary: $(tail -1 "$WORK/plan.txt")"
grep -q "fresh state" "$WORK/plan.txt" && fail "a recorded state is not fresh"
pass "text plan: noop, update, create, delete against recorded state; images left to docker"

# --- JSON plan
"$TENDCTL" plan --offline "$SPEC" --state "$DB" -o json >"$WORK/plan.json" || fail "json plan should exit 0"
python3 - "$WORK/plan.json" "$WORK/fresh.json" <<'PY' || fail "json plan content: $(cat "$WORK/plan.json")"
import json, sys
rows = {r["id"]: r for r in json.load(open(sys.argv[1]))}
want = {r["id"]: r["diff"]["hash"]["to"] for r in json.load(open(sys.argv[2]))}
assert set(rows) == {"host/alpha", "host/bravo", "host/charlie", "host/gone", "image/alpha/busybox:old"}, rows
assert rows["image/alpha/busybox:old"]["action"] == "noop", rows
assert rows["host/alpha"]["action"] == "noop" and rows["host/alpha"]["diff"] is None
assert rows["host/bravo"]["action"] == "update"
assert rows["host/bravo"]["diff"] == {"hash": {"from": "0" * 64, "to": want["host/bravo"]}}
assert rows["host/charlie"]["action"] == "create"
assert rows["host/charlie"]["diff"]["hash"] == {"from": None, "to": want["host/charlie"]}
assert rows["host/gone"]["action"] == "delete" and rows["host/gone"]["reason"] in ("no longer in the spec", "left the spec")
for r in rows.values():
    assert set(r) == {"id", "action", "reason", "diff"}, r
PY
pass "json plan: actions, reasons and hash diffs"

# --- prune off: what left the spec stays
sed -i 's/reconcile: { interval: 1h }/reconcile: { interval: 1h, prune: false }/' "$SPEC/environment.yml"
"$TENDCTL" plan --offline "$SPEC" --state "$DB" >"$WORK/noprune.txt" || fail "plan with prune off"
grep -Eq '^noop +host/gone +no longer in the spec; prune is off$' "$WORK/noprune.txt" || fail "prune off: $(cat "$WORK/noprune.txt")"
grep -q "0 to delete, 3 unchanged" "$WORK/noprune.txt" || fail "prune off summary"
pass "prune off keeps what left the spec"

# --- planning never writes the state
[ "$(sha256sum "$DB" | cut -d' ' -f1)" = "$before" ] || fail "plan --offline must not modify the state database"
pass "state database untouched"

# --- exit codes: invalid spec 1 (located errors), unreadable state 1, usage 2
echo "bogus_key: 1" >>"$SPEC/environment.yml"
set +e
"$TENDCTL" plan --offline "$SPEC" --state "$DB" >"$WORK/bad.txt" 2>"$WORK/bad.err"; rc=$?
[ $rc -eq 1 ] || fail "invalid spec should exit 1, got $rc"
grep -q "environment.yml:3:1: unknown key 'bogus_key'" "$WORK/bad.err" || fail "invalid spec error: $(cat "$WORK/bad.err")"
"$TENDCTL" plan --offline "$SPEC" --state "$DB" -o json >"$WORK/bad.json" 2>/dev/null; rc=$?
[ $rc -eq 1 ] || fail "invalid spec json should exit 1, got $rc"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is False and d["errors"][0]["line"] == 3, d' \
  "$WORK/bad.json" || fail "invalid spec json: $(cat "$WORK/bad.json")"
sed -i '/bogus_key/d' "$SPEC/environment.yml"
echo "not a database, just text that is long enough to not be a sqlite header at all" >"$WORK/garbage.db"
"$TENDCTL" plan --offline "$SPEC" --state "$WORK/garbage.db" >/dev/null 2>"$WORK/garbage.err"; rc=$?
[ $rc -eq 1 ] || fail "unreadable state should exit 1, got $rc"
grep -q "garbage.db" "$WORK/garbage.err" || fail "unreadable state message should name the file: $(cat "$WORK/garbage.err")"
"$TENDCTL" plan --offline "$SPEC" --bogus-flag >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown flag should exit 2, got $rc"
set -e
pass "exit codes: invalid spec 1, unreadable state 1, usage 2"
