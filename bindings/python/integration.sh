#!/usr/bin/env bash
# Python binding against a real Grafana Pyroscope server.
# Runner contract: uses PYROSCOPE_TEST_SERVER when set (else tests/integration
# /pyro.py starts ../shared/pyroscope-server); exits 77 when no server can be
# had, unless PYROSCOPE_REQUIRE_SERVER=1 (then 1).  Installs what it needs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
WORK="${TMPDIR:-/tmp}/pyroscope-python-integration"

shared="${PYROSCOPE_SHARED_SERVER:-$ROOT/../shared/pyroscope-server}"
if [ -z "${PYROSCOPE_TEST_SERVER:-}" ] && [ ! -f "$shared/run.sh" ]; then
  if [ "${PYROSCOPE_REQUIRE_SERVER:-0}" = 1 ]; then
    echo "integration.sh: no Pyroscope server (PYROSCOPE_TEST_SERVER unset," \
         "$shared absent)" >&2
    exit 1
  fi
  echo "integration.sh: no Pyroscope server here; skipping"
  exit 77
fi

# Build dependencies of the extension (the same list as ci.sh).
need=()
for pkg in cmake pkg-config gcc make git libunwind-dev \
           libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libzstd-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

rm -rf "$WORK"
mkdir -p "$WORK"
"$PY" -m venv "$WORK/venv"
pip() { "$WORK/venv/bin/pip" install -q --disable-pip-version-check "$@"; }
pip pytest
# The rideshare example's own requirements, without pyroscope-io and
# pyroscope-otel: this package provides `pyroscope` and `pyroscope.otel`.
pip flask opentelemetry-sdk opentelemetry-instrumentation-flask \
    opentelemetry-exporter-otlp-proto-grpc
pip "$HERE"
if "$WORK/venv/bin/pip" show pyroscope-io >/dev/null 2>&1; then
  echo "integration.sh: pyroscope-io got installed; it would replace ours" >&2
  exit 1
fi
cd "$HERE"
rm -rf build
"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider -rs integration
