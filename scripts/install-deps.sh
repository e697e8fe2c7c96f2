#!/usr/bin/env bash
# Installs the Debian 12 packages Tasker C++ needs to build and test, if any
# is missing. Idempotent: with everything present it only checks and exits.
#
# The servers in the list are only used as private processes started by
# scripts/test-servers.sh; installing them must not start system services,
# so apt runs under a policy-rc.d that forbids starting them (unless the
# machine already has its own policy-rc.d, which is left alone).
set -euo pipefail

PACKAGES=(
  build-essential
  cmake
  pkg-config
  g++
  libcaf-dev
  libpqxx-dev
  libboost-dev
  nlohmann-json3-dev
  doctest-dev
  librabbitmq-dev
  libyaml-cpp-dev
  libtomlplusplus-dev
  libssl-dev
  libjemalloc-dev
  postgresql-15
  rabbitmq-server
  procps
)

log() { printf 'install-deps: %s\n' "$*"; }

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  log "all ${#PACKAGES[@]} packages present"
  exit 0
fi

log "missing: ${missing[*]}"

SUDO=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "error: not root and sudo is not available; install as root:"
    log "  apt-get install ${missing[*]}"
    exit 1
  fi
fi

POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
  if ((created_policy)); then
    "${SUDO[@]}" rm -f "$POLICY"
    log "removed temporary $POLICY"
  fi
}
trap cleanup EXIT
if [[ ! -e $POLICY ]]; then
  log "writing temporary $POLICY so package scripts start no services"
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  created_policy=1
fi

log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
log "apt-get install -y --no-install-recommends ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
  --no-install-recommends "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
  installed "$pkg" || still+=("$pkg")
done
if ((${#still[@]} > 0)); then
  log "error: still missing after install: ${still[*]}"
  exit 1
fi
log "installed ${#missing[@]} package(s)"
