#!/bin/sh
# Install the core's dependencies from the distribution's packages.
#   deps.sh build     compiler, CMake, Ninja, protobuf-c and the -dev packages
#   deps.sh runtime   only the shared libraries a built core needs, and
#                     OpenSSL's libssl with the CA certificates for https
#                     (the core loads libssl with dlopen; nothing links it)
# Debian/Ubuntu (apt-get) and Alpine (apk).  Quiet no-op when present.
set -eu
what=${1:-build}
if command -v apk >/dev/null 2>&1; then
    if [ "$what" = build ]; then
        # linux-headers: <linux/perf_event.h>, which src/sampler includes.
        apk add --no-cache build-base cmake ninja pkgconf protobuf-c-compiler \
            linux-headers libunwind-dev protobuf-c-dev zlib-dev zstd-dev
    else
        apk add --no-cache libunwind protobuf-c zlib zstd-libs libssl3 \
            ca-certificates-bundle
    fi
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$what" = build ]; then
        pkgs="build-essential cmake ninja-build pkg-config protobuf-c-compiler
              libunwind-dev libprotobuf-c-dev zlib1g-dev libzstd-dev"
    else
        pkgs="libunwind8 libprotobuf-c1 zlib1g libzstd1 libssl3 ca-certificates"
    fi
    missing=""
    for p in $pkgs; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && exit 0
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi
echo "deps.sh: no apt-get or apk here; install by hand: a C compiler," \
     "cmake, ninja, pkg-config, protobuf-c, libunwind, zlib, zstd" \
     "(and libssl at run time for https)" >&2
exit 1
