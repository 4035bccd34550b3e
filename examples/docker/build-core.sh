#!/bin/sh
# Build the pyroscope C core and install it under PREFIX (default
# /usr/local): lib/libpyroscope.so (also the LD_PRELOAD zero-code agent),
# lib/libpyroscope.a, include/pyroscope.h, pkg-config and CMake files.
# Used by every Dockerfile here and by check.sh, so CI runs the very same
# commands without Docker.
#   SRC=<repo> PREFIX=<dir> examples/docker/build-core.sh
# Installs the build dependencies with apt-get (Debian/Ubuntu) or apk
# (Alpine) when they are missing; NO_DEPS=1 skips that.
set -eu
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PREFIX=${PREFIX:-/usr/local}
BUILD=${BUILD:-$SRC/build-docker}
JOBS=${JOBS:-2}

if [ "${NO_DEPS:-0}" != 1 ]; then
    sh "$SRC/examples/docker/deps.sh" build
fi
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
    -DPYROSCOPE_BUILD_TESTS=OFF -DPYROSCOPE_BUILD_EXAMPLES=OFF \
    -DPYROSCOPE_BUILD_BENCH=OFF
cmake --build "$BUILD" -j "$JOBS"
cmake --install "$BUILD"
