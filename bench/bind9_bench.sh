#!/usr/bin/env bash
# bind9_bench.sh BUILD_DIR [ROUNDS] — tend's bind9 provider: render + check + atomic write of
# 5 zones x 2 views (2,000 records) and a no-op pass, against the real named-checkzone /
# named-checkconf (bind9-utils). No named is started; files go to a temp dir.
# Targets (issue 6): render + check < 300 ms, no-op pass < 5 ms.
# Wall time on a shared machine mostly measures the run queue: the driver also prints the CPU
# time it and its checker processes used, and the load average while it ran.
set -euo pipefail
build=${1:-build}
rounds=${2:-7}
drv=$build/bench/bench_bind9_bench
[[ -x $drv ]] || { echo "build $drv first: make -C $build bench_bind9_bench" >&2; exit 1; }
command -v named-checkzone >/dev/null || { echo "named-checkzone missing: apt-get install bind9-utils" >&2; exit 1; }
echo "cores: $(nproc), $(named-checkzone -v 2>/dev/null | head -1 || true)"
"$drv" "$rounds"
