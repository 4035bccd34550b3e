#!/usr/bin/env bash
# Install the build dependencies from Debian packages when any is missing
# (quiet and quick when everything is there).  Needs root or sudo.
set -euo pipefail
need=()
for tool in cmake:cmake ninja:ninja-build pkg-config:pkg-config \
            protoc-c:protobuf-c-compiler cc:build-essential python3:python3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
for mod in libunwind:libunwind-dev libprotobuf-c:libprotobuf-c-dev \
           zlib:zlib1g-dev libzstd:libzstd-dev; do
    pkg-config --exists "${mod%%:*}" 2>/dev/null || need+=("${mod#*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing build dependencies: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
