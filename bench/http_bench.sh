#!/usr/bin/env bash
# HTTP benchmark of tendd's server (see bench/http_server.cpp): wrk on /metrics and /v1/status
# with 1,000 resources, reconcile-to-run-started latency through tendctl, and spec-edit-to-
# run-started latency through inotify. Usage: [RUNS=3] bench/http_bench.sh BUILD_DIR [N]
set -euo pipefail
BUILD=${1:?build dir}
N=${2:-1000}
WORK=$(mktemp -d /tmp/tend-bench-XXXXXX)
cleanup() { [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$BUILD/bench/bench_http_server" "$N" "$WORK" "$WORK/port" 2>"$WORK/server.log" &
SPID=$!
for _ in $(seq 1 200); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 200); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
echo "resources in status: $(curl -fsS "$BASE/v1/status" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["resources"]))')"
echo "status body: $(curl -fsS "$BASE/v1/status" | wc -c) bytes, metrics body: $(curl -fsS "$BASE/metrics" | wc -c) bytes"

# The machine is shared: each wrk run also prints the load average before it and the CPU
# seconds the server used during it. RUNS=N repeats the pair (figures vary with other load).
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$SPID/stat"; }
for run in $(seq 1 "${RUNS:-1}"); do
  for path in /metrics /v1/status; do
    echo "== run $run: wrk -t2 -c50 -d10s $path (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    c0=$(cpu_s)
    wrk -t2 -c50 -d10s --latency "$BASE$path" | grep -E "Requests/sec|99%|90%|50%|Latency|Non-2xx|errors" || true
    echo "server CPU during the run: $(awk -v a="$c0" -v b="$(cpu_s)" 'BEGIN { printf "%.2f", b - a }') s"
  done
done

echo "== tendctl reconcile --now -> run started (20 tries)"
python3 - "$BUILD/daemon/tendctl" "$WORK/tendd.sock" <<'PY'
import subprocess, sys, time
ctl, sock = sys.argv[1], sys.argv[2]
ts = []
for _ in range(20):
    t0 = time.perf_counter()
    out = subprocess.run([ctl, "--socket", sock, "reconcile", "--now"], capture_output=True, text=True)
    ts.append((time.perf_counter() - t0) * 1000)
    assert "started" in out.stdout, out.stdout + out.stderr
    time.sleep(0.05)
ts.sort()
print("reconcile --now to run-started: median %.1f ms, p95 %.1f ms, max %.1f ms" % (ts[len(ts)//2], ts[int(len(ts)*0.95)-1], ts[-1]))
PY

echo "== spec edit -> run started (5 edits, inotify + 300 ms debounce)"
python3 - "$BASE" "$WORK/spec/spec.txt" <<'PY'
import json, sys, time, urllib.request
base, spec = sys.argv[1], sys.argv[2]
def last_run():
    return json.load(urllib.request.urlopen(base + "/v1/status"))["last_run"]["id"]
ts = []
for i in range(5):
    time.sleep(0.5)
    before = last_run()
    t0 = time.perf_counter()
    with open(spec, "a") as f:
        f.write("container/edit%d/web\n" % i)
    while last_run() == before:
        time.sleep(0.005)
    ts.append((time.perf_counter() - t0) * 1000)
print("spec edit to run-started: " + ", ".join("%.0f ms" % t for t in ts) + " (max %.0f ms)" % max(ts))
PY
