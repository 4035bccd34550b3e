#!/bin/sh
# The Python binding as a wheel in $APP/wheels, and the sample app.
# SRC=<repo> APP=<out dir> PYTHON=<interpreter>
set -eu
SRC=${SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
APP=${APP:-/app}
PYTHON=${PYTHON:-python3}
mkdir -p "$APP/wheels"
"$PYTHON" -m pip wheel --no-deps --disable-pip-version-check -q \
    -w "$APP/wheels" "$SRC/bindings/python"
cp "$SRC/examples/docker/python/app.py" "$APP/"
