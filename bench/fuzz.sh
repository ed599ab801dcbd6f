#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -DTEND_FUZZ=ON, in build-fuzz-opt) and runs each for
# SECONDS (default 600). Crashes are kept in /tmp/tend-fuzz-out/TARGET/ (tests/fuzz/run.sh).
#   bench/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${1:-600}"
shift || true
# Its own build (-O2: several times the executions per second of the test command's -O0
# build-fuzz, which trades them for compile time).
BUILD="${TEND_FUZZ_BUILD:-$ROOT/build-fuzz-opt}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DTEND_FUZZ=ON -DTEND_BUILD_TESTS=OFF -DTEND_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "${TEND_JOBS:-2}" --target fuzzers
exec "$ROOT/tests/fuzz/run.sh" "$BUILD" "$SECS" "$@"
