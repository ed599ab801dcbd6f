#!/usr/bin/env bash
# proxmox_bench.sh BUILD_DIR [N VMS] [M CLONES] [TASK SECONDS] [PARALLELISM]
# The Proxmox provider against the API emulator on loopback (tests/fixtures/proxmox):
# a no-op pass over N converged VMs (default 100; target < 50 ms, one cluster read, no
# writes), and M clones (default 8) of TASK SECONDS each (default 5) through the engine with
# reconcile.parallelism.proxmox = PARALLELISM (default 2; target about M/P x T + overhead).
set -euo pipefail
build=${1:-build}
shift || true
drv=$build/bench/bench_proxmox_bench
[[ -x $drv ]] || { echo "build $drv first: cmake --build $build --target bench_proxmox_bench" >&2; exit 1; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$drv" "$@"
