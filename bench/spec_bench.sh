#!/usr/bin/env bash
# Builds and runs the spec benchmark: load + validate + expand of 500 hosts x 10 containers.
# Usage: bench/spec_bench.sh [BUILD_DIR] [HOSTS] [CONTAINERS_PER_HOST] [RUNS]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build-bench}"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTEND_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target bench_spec_bench -j"${JOBS:-2}"
"$build/bench/bench_spec_bench" "${2:-500}" "${3:-10}" "${4:-7}"
