#!/usr/bin/env bash
# tend quick start: the two commands of the README.
#
#   deploy/quickstart.sh demo   install deps, build, start dockerd + a loopback named, and run
#                               tendd on specs/local (Ctrl-C stops it; `--once` just converges)
#   deploy/quickstart.sh test   install deps, build, start the servers tests need, run every test
#
# Everything stays on this machine: containers publish on 127.0.0.1, named listens on 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-}"
shift || true
BUILD="${TEND_BUILD_DIR:-$ROOT/build}"
JOBS="${TEND_JOBS:-2}"
# ccache hits across clones in different folders (CI builds a fresh clone elsewhere).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_deps() {
  say "installing Debian packages (deploy/install-deps.sh)"
  "$ROOT/deploy/install-deps.sh"
}

build() {
  say "building tend in $BUILD (-j$JOBS, ccache)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$BUILD" -j "$JOBS"
}

start_dockerd() {
  say "making sure dockerd is running"
  bash "$ROOT/tests/fixtures/docker/ensure-dockerd.sh"
}

# The operator's side of BIND for the demo: a named on 127.0.0.1:5354 (rndc 127.0.0.1:9953)
# whose named.conf includes tend's fragment var/bind/named.conf.tend.
start_demo_named() {
  local dir="$ROOT/var/bind"
  mkdir -p "$dir"
  if [ ! -f "$dir/rndc.key" ]; then
    rndc-confgen -a -k tend-rndc -c "$dir/rndc.key" >/dev/null 2>&1
  fi
  if [ -f "$dir/named.pid" ] && kill -0 "$(cat "$dir/named.pid")" 2>/dev/null; then
    say "demo named already running (pid $(cat "$dir/named.pid"))"
    return
  fi
  cat >"$dir/named.conf" <<EOF
// The operator's named.conf for the tend demo (written by deploy/quickstart.sh).
include "$dir/rndc.key";
options {
  directory "$dir";
  pid-file "$dir/named.pid";
  listen-on port 5354 { 127.0.0.1; 127.0.0.2; };
  listen-on-v6 { none; };
  dnssec-validation no;
  recursion no;
};
controls { inet 127.0.0.1 port 9953 allow { 127.0.0.1; } keys { "tend-rndc"; }; };
include "$dir/named.conf.tend";
EOF
  if [ ! -f "$dir/named.conf.tend" ]; then
    # named refuses a missing include; tend replaces this empty, marked bootstrap on its first pass.
    printf '// managed by tend: resource dnsconf/local (bootstrap, empty until the first pass)\n' \
      >"$dir/named.conf.tend"
  fi
  say "starting demo named on 127.0.0.1:5354 (rndc 127.0.0.1:9953)"
  named -c "$dir/named.conf" -u root >"$dir/named.log" 2>&1 || {
    cat "$dir/named.log" >&2
    return 1
  }
}

demo() {
  install_deps
  build
  start_dockerd
  bash "$ROOT/tests/fixtures/docker/make-busybox-image.sh" local/busybox:demo
  start_demo_named
  mkdir -p "$ROOT/var"
  export TEND_AGE_KEY_FILE="${TEND_AGE_KEY_FILE:-$ROOT/tests/testdata/secrets/demo-age.key}"
  cat >&2 <<EOF

tendd is starting on specs/local. Where to look:
  status:   curl -s http://127.0.0.1:9469/v1/status | jq .      or  $BUILD/daemon/tendctl status
  metrics:  curl -s http://127.0.0.1:9469/metrics
  reconcile now: $BUILD/daemon/tendctl reconcile --now --wait
  the app:  curl -s http://127.0.0.1:18080/      DNS: dig @127.0.0.1 -p 5354 hello.home.test
  stop:     Ctrl-C (SIGTERM); containers keep running, tend converges them again next start
EOF
  exec "$BUILD/daemon/tendd" --spec "$ROOT/specs/local" --state "$ROOT/var/tend.db" \
    --socket "$ROOT/var/tendd.sock" --listen 127.0.0.1:9469 "$@"
}

# Every program some test needs. A test that cannot find one reports itself skipped; under
# CI=true a skip is a failure, and this check names everything missing before the long run.
TEST_TOOLS=(dockerd docker docker-compose named rndc rndc-confgen named-checkzone named-checkconf
  sshd git openssl curl jq python3 prometheus promtool systemd-analyze age sqlite3 ip dig clang++)
check_test_tools() {
  local missing=() t
  for t in "${TEST_TOOLS[@]}"; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
  done
  python3 -c 'import yaml, cryptography' 2>/dev/null || missing+=("python3-yaml/python3-cryptography")
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    say "CI=true and programs the tests need are missing: ${missing[*]}"
    return 1
  fi
  say "missing (the tests that need them will be reported skipped): ${missing[*]}"
}

run_tests() {
  install_deps
  check_test_tools
  build
  say "check-headers: every public header compiles on its own"
  cmake --build "$BUILD" -j "$JOBS" --target check-headers
  start_dockerd
  # sshd on loopback for the SSH-transport tests (host key generated once).
  if ! pgrep -f "sshd -p 2222" >/dev/null 2>&1; then
    ssh-keygen -A >/dev/null 2>&1 || true
    mkdir -p /run/sshd
    /usr/sbin/sshd -p 2222 -o ListenAddress=127.0.0.1 >/dev/null 2>&1 || say "sshd did not start (tests that need it skip)"
  fi
  # Tests decrypt canary secrets: no core files of test runs.
  ulimit -c 0
  say "running every test (ctest -j$JOBS)"
  local rc=0
  # A test that fails is run once more (timing-sensitive script tests on a busy 2-core box);
  # ctest still prints the first failure, so a flake stays visible in the log.
  rm -f "$BUILD/ctest-junit.xml"
  (cd "$BUILD" && ctest --output-on-failure -j "$JOBS" --timeout 900 --repeat until-pass:2 \
     --output-junit "$BUILD/ctest-junit.xml" "$@") || rc=$?
  # Each Catch test case declared must have run as its own ctest entry (a name that
  # catch_discover_tests splits, or a binary that lists nothing, would otherwise pass unseen).
  if [ $# -eq 0 ]; then
    say "checking that every declared Catch test case ran"
    python3 "$ROOT/tests/check_test_counts.py" "$BUILD" "$BUILD/ctest-junit.xml" || rc=1
  else
    say "ctest was given a filter ($*): the declared-vs-ran count check needs the full run"
  fi
  # One sanitizer build (clang, ASan + UBSan, in $BUILD-fuzz) serves both steps below: the
  # loader and secrets tests under the sanitizers, and every libFuzzer target (tests/fuzz).
  if [ "${TEND_SANITIZE_TESTS:-1}" = 1 ] || [ "${TEND_FUZZ_TESTS:-1}" = 1 ]; then
    say "building the sanitizer build in $BUILD-fuzz (clang, ASan + UBSan)"
    # -O0 with line tables: half the compile time of -O2 -g, still symbolised reports.
    cmake -S "$ROOT" -B "$BUILD-fuzz" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -gline-tables-only" \
      -DCMAKE_CXX_COMPILER=clang++ -DTEND_FUZZ=ON -DTEND_BUILD_TESTS=ON -DTEND_BUILD_BENCH=OFF >/dev/null
    cmake --build "$BUILD-fuzz" -j "$JOBS" --target fuzzers tend_spec_tests tend_secrets_tests
  fi
  if [ "${TEND_SANITIZE_TESTS:-1}" = 1 ]; then
    say "loader + secrets tests under ASan + UBSan"
    # The tendctl-driven secrets cases run the tendctl binary, which this build does not make
    # (they ran in the main build above); here the library code is under the sanitizers.
    (cd "$BUILD-fuzz" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       ctest --output-on-failure -j "$JOBS" -L 'tend_spec_tests|tend_secrets_tests' -E '^tendctl ') || rc=$?
  fi
  if [ "${TEND_FUZZ_TESTS:-1}" = 1 ]; then
    # Each libFuzzer target run for a few seconds from its committed corpus: any crash, leak,
    # hang or sanitizer report fails the run.
    say "fuzzing: each libFuzzer target for ${TEND_FUZZ_SECONDS:-10} s (tests/fuzz/run.sh)"
    "$ROOT/tests/fuzz/run.sh" "$BUILD-fuzz" "${TEND_FUZZ_SECONDS:-10}" || rc=1
  fi
  return $rc
}

case "$MODE" in
  demo) demo "$@" ;;
  test) run_tests "$@" ;;
  build) install_deps; build "$@" ;;
  *) echo "usage: deploy/quickstart.sh demo|test|build" >&2; exit 2 ;;
esac
