#!/usr/bin/env bash
# The short version of bench/bad_commits.sh: 10 bad commits (one of each kind: deleted line,
# wrong type, cycle, duplicate IP, truncated file, binary junk, 5 MiB file, symlink out of
# the repository, then two more) pushed to the git daemon a running tendd follows; each is
# rejected with a located error in /v1/status and the events, the last good revision stays
# enforced, nothing is deleted, and the next good commit converges.
set -euo pipefail
source "$(dirname "$0")/skip_lib.sh"
need python3 git docker
BUILD=$(cd "${1:?build dir}" && pwd)
SRC=$(cd "${2:?source dir}" && pwd)
docker info >/dev/null 2>&1 || skip "dockerd is not running (deploy/quickstart.sh test starts it)"
exec python3 "$SRC/bench/bad_commits.py" "$BUILD" --src "$SRC" --mutations "${TEND_BAD_COMMITS:-10}" --seed 16
