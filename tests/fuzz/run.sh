#!/usr/bin/env bash
# Runs tend's libFuzzer targets for a bounded time each, starting from the committed seed
# corpora (tests/fuzz/corpus/TARGET, never modified: the run works on a copy).
#
#   tests/fuzz/run.sh BUILD_FUZZ_DIR SECONDS [TARGET...]     (default: every target)
#
# BUILD_FUZZ_DIR is a build configured with clang and -DTEND_FUZZ=ON (targets built). Exit 1
# when a target crashes, leaks, times out or a sanitizer reports; the reproducer is kept as
# $TEND_FUZZ_OUT/TARGET/crash-* (default /tmp/tend-fuzz-out) and the log tail is printed.
# Reproduce one: BUILD_FUZZ_DIR/tests/fuzz/TARGET CRASH_FILE.
set -uo pipefail
BUILD="${1:?usage: tests/fuzz/run.sh BUILD_FUZZ_DIR SECONDS [TARGET...]}"
SECS="${2:?seconds per target}"
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGETS=("$@")
# Default: every target (the `fuzzers` build target).
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_spec_loader fuzz_zone_render fuzz_secrets fuzz_docker_json
                                     fuzz_http_request fuzz_proxmox_json)
OUT="${TEND_FUZZ_OUT:-/tmp/tend-fuzz-out}"
# Largest input per target: specs are files of tens of KB, requests a few KB.
declare -A MAXLEN=([fuzz_spec_loader]=65536 [fuzz_zone_render]=16384 [fuzz_secrets]=16384
                   [fuzz_docker_json]=32768 [fuzz_http_request]=32768
                   [fuzz_proxmox_json]=16384)
ulimit -c 0
rc=0
printf '%-20s %8s %10s %8s %s\n' target seconds execs cov result
for t in "${TARGETS[@]}"; do
  bin="$BUILD/tests/fuzz/$t"
  if [ ! -x "$bin" ]; then
    echo "$t: not built ($bin)" >&2
    rc=1
    continue
  fi
  work="$OUT/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$work/corpus/" 2>/dev/null
  log="$work/log"
  # detect_leaks: a leak per input would grow tendd forever. -timeout: an input that takes
  # over 10 s is a hang. One job, one worker: the machine is shared.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len="${MAXLEN[$t]:-16384}" \
      -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$log" 2>&1
  r=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [ $r -eq 0 ]; then
    printf '%-20s %8s %10s %8s %s\n' "$t" "$SECS" "${execs:-?}" "${cov:-?}" ok
  else
    printf '%-20s %8s %10s %8s %s\n' "$t" "$SECS" "${execs:-?}" "${cov:-?}" "FAILED (exit $r)"
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null
    tail -60 "$log"
    rc=1
  fi
done
exit $rc
