#!/usr/bin/env bash
# The Proxmox VE API emulator (tests/fixtures/proxmox) against the real schema: every route it
# serves exists in api-subset.json, its parameter checks agree with the schema, and the
# protocol rules (401 delay, 501s, UPIDs, exitstatus failures, locks) hold. Loopback only.
set -euo pipefail
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
exec python3 "$SRC/tests/fixtures/proxmox/emulator_test.py"
