#!/usr/bin/env bash
# CI for the Node.js binding: installs what it needs on a fresh Debian
# machine, builds the core and the addon from this checkout with
# `npm install` (which also brings the test-only packages: typescript,
# @opentelemetry/*), runs the tests (node --test), then checks that the
# `npm pack` tarball installs and works in an empty directory
# (test/tarball.sh).  Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

pkgs=(build-essential cmake pkg-config libunwind-dev libzstd-dev libprotobuf-c-dev
      protobuf-c-compiler zlib1g-dev)
# node with its headers (node_api.h, v8-profiler.h): keep an installed node
# when its headers are there, else Debian's nodejs + libnode-dev.
node_inc() {
  command -v node >/dev/null || return 1
  local prefix
  prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  for d in "$prefix/include/node" /usr/include/node /usr/local/include/node; do
    [ -f "$d/node_api.h" ] && [ -f "$d/v8-profiler.h" ] && return 0
  done
  return 1
}
node_inc || pkgs+=(nodejs npm libnode-dev)
command -v npm >/dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "::: node: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "::: node: $(node --version), npm $(npm --version)"
rm -rf build
# Builds ../.. with cmake (static PIC core) and the addon (scripts/build.js).
npm install --no-audit --no-fund --foreground-scripts
npm test
bash test/tarball.sh
