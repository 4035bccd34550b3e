#!/bin/sh
# The C sample: examples/cpu_hotspots.c linked against the installed core
# through pkg-config.  SRC=<repo> PREFIX=<core prefix> APP=<out dir>
set -eu
SRC=${SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
PREFIX=${PREFIX:-/usr/local}
APP=${APP:-/app}
mkdir -p "$APP"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shellcheck disable=SC2046
cc -O1 -fno-omit-frame-pointer -o "$APP/cpu_hotspots" "$SRC/examples/cpu_hotspots.c" \
    $(pkg-config --cflags --libs pyroscope) -Wl,-rpath,"$PREFIX/lib" -lpthread
