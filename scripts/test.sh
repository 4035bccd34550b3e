#!/usr/bin/env bash
# Build and run the C test suite.  Extra arguments go to cmake, e.g.
#   scripts/test.sh -DPYROSCOPE_ASAN=ON -DPYROSCOPE_UBSAN=ON
# BUILD_DIR picks the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dir=${BUILD_DIR:-build}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j2
cd "$dir" && ctest --output-on-failure -j1
