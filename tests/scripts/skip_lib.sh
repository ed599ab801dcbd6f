# Sourced by tests/scripts/*.sh (not a test: CMake leaves *_lib.sh out).
# skip REASON: this script cannot run its check. It exits 77, which ctest reports as Skipped
# (SKIP_RETURN_CODE), never as passed. Under CI=true it fails instead: CI must have every tool.
skip() {
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    echo "FAIL: CI=true and the test cannot run its check: $*" >&2
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}
# need PROGRAM...: skip unless every program is on PATH (or in /usr/sbin, where named lives).
need() {
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
      skip "$p not installed (deploy/install-deps.sh installs it)"
  done
}
