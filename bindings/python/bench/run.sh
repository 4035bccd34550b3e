#!/usr/bin/env bash
# Overhead benchmark: this binding vs unprofiled vs the official pyroscope-io
# (from PyPI, in its own venv, if it installs), one run.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
WORK="${TMPDIR:-/tmp}/pyroscope-python-bench"
mkdir -p "$WORK"
[ -x "$WORK/ours/bin/python" ] || "$PY" -m venv "$WORK/ours"
"$WORK/ours/bin/pip" install -q --disable-pip-version-check "$HERE/.."
official=()
if [ -x "$WORK/official/bin/python" ] || { "$PY" -m venv "$WORK/official" &&
     "$WORK/official/bin/pip" install -q --disable-pip-version-check pyroscope-io; }; then
  official=(--official "$WORK/official/bin/python")
else
  echo "pyroscope-io did not install; comparing against unprofiled only"
fi
"$WORK/ours/bin/python" "$HERE/bench.py" --ours "$WORK/ours/bin/python" \
  "${official[@]}" "$@"
