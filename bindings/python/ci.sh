#!/usr/bin/env bash
# Build the C core and the Python binding from this checkout, run the tests.
# Works on a fresh Debian machine (installs what it needs); exits non-zero on
# failure.  Env: PYTHON (default python3), PYROSCOPE_PY_EXTRA ("auto": also
# run the fast tests on every other CPython 3.9-3.13 found via pyenv; "0": no).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
WORK="${TMPDIR:-/tmp}/pyroscope-python-ci"

need=()
for pkg in cmake pkg-config gcc make libunwind-dev \
           libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libzstd-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! "$PY" -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")))' 2>/dev/null; then
  need+=(python3-dev)
fi
"$PY" -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "ci.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

rm -rf "$WORK" "$HERE/build"
mkdir -p "$WORK"

run_version() { # python-binary venv-dir pytest-args...
  local py="$1" venv="$2"; shift 2
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pytest \
    opentelemetry-sdk
  "$venv/bin/pip" install -q --disable-pip-version-check "$HERE"
  (cd "$HERE" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@")
}

# The real pyroscope-io 1.4 (and pyroscope-otel) from PyPI, for the
# drop-in tests (tests/test_compat.py): their source, unpacked, and an
# interpreter that runs pyroscope-io, in a venv of its own.
OFF="$WORK/official"
mkdir -p "$OFF"
"$PY" -m pip download -q --disable-pip-version-check --no-deps \
  -d "$OFF/dl" pyroscope-io==1.4.0 pyroscope-otel==1.1.0
"$PY" -m zipfile -e "$OFF"/dl/pyroscope_io-*.whl "$OFF/io"
"$PY" -m zipfile -e "$OFF"/dl/pyroscope_otel-*.whl "$OFF/otel"
"$PY" -m venv "$OFF/venv"
"$OFF/venv/bin/pip" install -q --disable-pip-version-check pyroscope-io==1.4.0
export PYROSCOPE_OFFICIAL_SRC="$OFF/io" \
  PYROSCOPE_OFFICIAL_PYTHON="$OFF/venv/bin/python" PYROSCOPE_REQUIRE_OFFICIAL=1

# The shared core, for the LD_PRELOAD heap+lock test in a Python process
# (tests/test_native_heap_lock.py).
cmake -S "$ROOT" -B "$WORK/core-so" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPYROSCOPE_BUILD_TESTS=OFF -DPYROSCOPE_BUILD_EXAMPLES=OFF \
  -DPYROSCOPE_BUILD_BENCH=OFF >/dev/null
cmake --build "$WORK/core-so" --target pyroscope -j 2 >/dev/null
export PYROSCOPE_PRELOAD_LIB="$WORK/core-so/libpyroscope.so" \
  PYROSCOPE_REQUIRE_PRELOAD=1

echo "== $("$PY" -V): full suite (core built by setup.py via CMake)"
run_version "$PY" "$WORK/venv" tests

# pyroscope-otel depends on pyroscope-io, whose `pyroscope/` would replace
# ours.  Our package ships pyroscope.otel, so it is not needed; when a
# dependency insists on it, `pip install --no-deps pyroscope-otel` keeps our
# core and its processor (same code path: add_thread_tag(key, value)) works.
echo "== pyroscope-otel installed with --no-deps over this package"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check --no-deps \
  pyroscope-otel==1.1.0
(cd "$HERE" && "$WORK/venv/bin/python" -c \
  'import pyroscope; assert hasattr(pyroscope._native, "mem_counts")' &&
 "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_otel.py)
"$WORK/venv/bin/pip" uninstall -q -y pyroscope-otel

if [ "${PYROSCOPE_PY_EXTRA:-auto}" = "auto" ] && command -v pyenv >/dev/null; then
  main_ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  # Reuse the core that setup.py just built for the other interpreters.
  lib="$(find "$HERE/build" -name libpyroscope.a | head -1)"
  cp "$lib" "$WORK/libpyroscope.a"
  export PYROSCOPE_CORE_LIB="$WORK/libpyroscope.a"
  # pyroscope-io runs on the main interpreter only: compare labels there.
  unset PYROSCOPE_OFFICIAL_PYTHON PYROSCOPE_REQUIRE_OFFICIAL
  for v in 3.9 3.10 3.11 3.12 3.13; do
    [ "$v" = "$main_ver" ] && continue
    prefix="$(pyenv prefix "$(pyenv versions --bare | grep -E "^$v\.[0-9]+$" | tail -1)" 2>/dev/null || true)"
    [ -n "$prefix" ] && [ -x "$prefix/bin/python$v" ] || continue
    echo "== Python $v: all but the fork/crash tests"
    rm -rf "$HERE/build"
    run_version "$prefix/bin/python$v" "$WORK/venv$v" tests \
      -k "not fork and not segfault and not syscall"
  done
fi
rm -rf "$HERE/build"
echo "== packaging: sdist, manylinux wheel, clean-venv install"
bash "$HERE/package.sh"

rm -rf "$HERE/build"
echo "ci.sh: python binding OK"
