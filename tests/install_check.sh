#!/bin/sh
# `cmake --install` then build consumers with find_package and pkg-config.
#   install_check.sh SOURCE_DIR BUILD_DIR
set -e
src="$1"; build="$2"
dir=$(mktemp -d /tmp/pyroscope-install-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/prefix" >/dev/null
cmake -S "$src/tests/consumer" -B "$dir/consumer" -G Ninja \
    -DCMAKE_PREFIX_PATH="$dir/prefix" >/dev/null
cmake --build "$dir/consumer" >/dev/null
LD_LIBRARY_PATH="$dir/prefix/lib" "$dir/consumer/consumer"
"$dir/consumer/consumer_static"
export PKG_CONFIG_PATH="$dir/prefix/lib/pkgconfig"
cc "$src/tests/consumer/main.c" -o "$dir/pc_consumer" \
    $(pkg-config --cflags --libs pyroscope)
LD_LIBRARY_PATH="$dir/prefix/lib" "$dir/pc_consumer"
echo "ok - installed package found by find_package and pkg-config"
