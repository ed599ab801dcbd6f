#!/usr/bin/env bash
# deploy/Dockerfile, checked without a registry (this environment cannot pull debian:12):
#  - shape: multi-stage, every stage FROM debian:12, non-root USER, HEALTHCHECK on /healthz
#    with curl, EXPOSE 9469, tini as PID 1;
#  - every COPY source exists in the repository, and those sources alone configure with
#    CMake exactly as the build stage does (so the COPY list is complete);
#  - every apt package named exists in Debian 12, the build packages are a subset of
#    deploy/install-deps.sh, and the runtime packages provide every shared library the built
#    tendd and tendctl need (ldd + dpkg -S + apt-cache depends);
#  - an actual `docker build` runs only when a debian:12 image is already present locally.
# Usage: deploy_dockerfile.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
DF=$SRC/deploy/Dockerfile
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
[ -f "$DF" ] || fail "$DF missing"
WORK=$(mktemp -d /tmp/tend-deploy-docker-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Join continuation lines so each instruction is one line.
sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$DF" | grep -v '^\s*#' | sed '/^\s*$/d' >"$WORK/instr"

froms=$(grep -ci '^FROM ' "$WORK/instr")
[ "$froms" -ge 2 ] || fail "not multi-stage ($froms FROM lines)"
bad=$(grep -i '^FROM ' "$WORK/instr" | awk '{print $2}' | grep -v '^debian:12$' || true)
[ -z "$bad" ] || fail "stages must use debian:12, found: $bad"
# The runtime stage is everything after the last FROM.
awk 'toupper($1) == "FROM" { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$WORK/instr" >"$WORK/runtime"
user=$(grep -i '^USER ' "$WORK/runtime" | tail -1 | awk '{print $2}')
[ -n "$user" ] || fail "runtime stage has no USER"
case "${user%%:*}" in root | 0) fail "runtime stage runs as root ($user)" ;; esac
grep -qiE '^HEALTHCHECK .*curl .*127\.0\.0\.1:9469/healthz' "$WORK/runtime" || fail "HEALTHCHECK must curl http://127.0.0.1:9469/healthz"
grep -qiE '^EXPOSE 9469' "$WORK/runtime" || fail "EXPOSE 9469 missing"
grep -qE '^ENTRYPOINT .*tini.*tendd' "$WORK/runtime" || fail "ENTRYPOINT should run tendd under tini"
grep -qE '^COPY --from=build .*tendd .*tendctl' "$WORK/runtime" || fail "runtime stage must copy tendd and tendctl from the build stage"
pass "multi-stage debian:12, USER $user, HEALTHCHECK, EXPOSE 9469, tini"

# COPY sources (without --from) relative to the repository root.
grep -E '^COPY ' "$WORK/instr" | grep -v -- '--from=' | while read -r _ rest; do
  set -- $rest
  while [ $# -gt 1 ]; do
    [ -e "$SRC/$1" ] || fail "COPY source $1 does not exist in the repository"
    mkdir -p "$WORK/ctx/$(dirname "$1")"
    cp -r "$SRC/${1%/}" "$WORK/ctx/$(dirname "$1")/"
    shift
  done
done
pass "every COPY source exists"

# The copied sources alone configure the way the build stage runs CMake.
cmake_line=$(grep -oE 'cmake -S \. -B /build[^&]*' "$WORK/instr" | head -1)
[ -n "$cmake_line" ] || fail "no 'cmake -S . -B /build' in the build stage"
flags=$(printf '%s\n' "$cmake_line" | grep -oE -- '-D[A-Za-z_]+=[A-Za-z0-9_]+' | tr '\n' ' ')
if ! out=$(cd "$WORK/ctx" && cmake -S . -B "$WORK/cfg" $flags 2>&1); then
  fail "the COPYed sources do not configure ($flags): $(printf '%s\n' "$out" | grep -A3 'CMake Error' | head -8)"
fi
for t in tendd tendctl; do
  grep -q "^$t:" "$WORK/cfg/Makefile" 2>/dev/null || grep -rq "\b$t\b" "$WORK/cfg/Makefile" || fail "target $t not configured"
done
pass "COPYed sources configure with $flags"

# apt packages: the words after 'install ... --no-install-recommends' up to '&&'.
pkgs_of() { printf '%s\n' "$1" | grep -oE 'apt-get install[^&]*' | sed 's/apt-get install//' | tr ' ' '\n' | grep -vE '^(-.*|)$'; }
build_stage=$(awk 'toupper($1) == "FROM" { n++ } n == 1' "$WORK/instr")
build_pkgs=$(pkgs_of "$build_stage" | sort -u)
run_pkgs=$(pkgs_of "$(cat "$WORK/runtime")" | sort -u)
[ -n "$build_pkgs" ] && [ -n "$run_pkgs" ] || fail "could not read the apt package lists"
deps_pkgs=$(sed -n '/^PKGS=(/,/^)/p' "$SRC/deploy/install-deps.sh" | tr ' ' '\n' | grep -vE '^(PKGS=\(|\)|)$' | sort -u)
extra=$(comm -23 <(printf "%s\n" $build_pkgs | sort -u) <(printf "%s\n" $deps_pkgs ca-certificates | sort -u))
[ -z "$extra" ] || fail "build stage installs packages deploy/install-deps.sh does not list: $extra"
pass "build packages are a subset of deploy/install-deps.sh"
if command -v apt-cache >/dev/null && apt-cache show --no-all-versions bash >/dev/null 2>&1; then
  for p in $build_pkgs $run_pkgs; do
    apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || fail "apt package '$p' does not exist in this Debian release"
  done
  pass "all $(printf '%s\n' $build_pkgs $run_pkgs | wc -l) apt packages exist"

  # Shared libraries of the built binaries must come from the runtime packages or the base image.
  bins=()
  for b in "$BUILD/daemon/tendd" "$BUILD/daemon/tendctl"; do [ -x "$b" ] && bins+=("$b"); done
  if [ ${#bins[@]} -gt 0 ]; then
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances $run_pkgs 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u)
    # Packages every debian:12 image has (Priority: required, plus apt's libraries).
    base="libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 liblz4-1 libgcrypt20 libgpg-error0
          libcap2 libselinux1 libpcre2-8-0 libsystemd0 libudev1 libacl1 libattr1 libbz2-1.0"
    missing=""
    # A here-string, not `printf | grep -q`: grep -q exits at its first match, printf then dies
    # of SIGPIPE and pipefail made a found package look missing (a flaky failure).
    allowed=$(printf '%s\n' $closure $base)
    for lib in $(ldd "${bins[@]}" | awk '/=> \// {print $3}' | sort -u); do
      real=$(readlink -f "$lib")
      pkg=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1) || true
      [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
      [ -n "$pkg" ] || { missing="$missing $lib(no package)"; continue; }
      grep -qx "$pkg" <<<"$allowed" || missing="$missing $lib($pkg)"
    done
    [ -z "$missing" ] || fail "runtime stage lacks packages for:$missing"
    pass "runtime packages provide every shared library of ${bins[*]##*/}"
  else
    echo "note: $BUILD/daemon/tendd not built; shared-library coverage not checked"
  fi
else
  echo "note: apt-cache unavailable; package names not checked"
fi

if command -v hadolint >/dev/null; then
  out=$(hadolint --ignore DL3008 "$DF" 2>&1) || fail "hadolint: $out"
  pass "hadolint"
fi

if command -v docker >/dev/null && timeout 10 docker image inspect debian:12 >/dev/null 2>&1; then
  tag=tend-deploy-test:$$
  out=$(cd "$SRC" && timeout 1800 docker build -q -f deploy/Dockerfile -t "$tag" . 2>&1) || fail "docker build: $(printf '%s\n' "$out" | tail -20)"
  docker run --rm --entrypoint /usr/local/bin/tendd "$tag" --version >/dev/null || fail "image's tendd --version failed"
  docker image rm "$tag" >/dev/null 2>&1 || true
  pass "docker build + tendd --version in the image"
else
  echo "note: no debian:12 image available locally and no registry access here: 'docker build' not run (lint only)"
fi
