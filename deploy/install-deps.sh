#!/usr/bin/env bash
# Installs every Debian 12 package tend needs to build, test and run its demo.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
PKGS=(
  build-essential cmake ccache pkg-config git
  libboost-dev libboost-system-dev libboost-program-options-dev
  libyaml-cpp-dev libyaml-dev nlohmann-json3-dev libssl-dev prometheus-cpp-dev
  catch2 libssh-dev libsqlite3-dev sqlite3 libcli11-dev
  docker.io busybox-static bind9 bind9-utils bind9-dnsutils openssh-server
  prometheus age wrk curl jq iproute2 procps docker-compose systemd python3 python3-yaml
  python3-cryptography openssl debootstrap libncurses-dev tmux chromium caddy
  clang libclang-rt-14-dev   # libFuzzer targets (tests/fuzz, TEND_FUZZ)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # Services must not start on install (no systemd in containers/CI); tend's scripts start them.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
