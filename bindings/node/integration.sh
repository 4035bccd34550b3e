#!/usr/bin/env bash
# Real-server acceptance for the Node.js binding (runner contract of
# tests/integration): the official Express rideshare example, with only the
# package name changed, profiles into a real Grafana Pyroscope server; the
# server's own query API must show the service, the profile types, the
# handlers and the vehicle/region labels with the split the app produces.
#
# PYROSCOPE_TEST_SERVER: the server to use (else one is started from
# ../shared/pyroscope-server).  Exit 77 when there is none, unless
# PYROSCOPE_REQUIRE_SERVER=1.  PYROSCOPE_API=push|ingest picks the upload API
# (default: the core's).
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "node: not installed"; exit 1; }
exec python3 test/integration.py "$@"
