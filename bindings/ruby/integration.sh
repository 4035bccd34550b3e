#!/usr/bin/env bash
# Ruby binding against a real Pyroscope server (issue 20).  Called by the
# integration runner with PYROSCOPE_TEST_SERVER set; alone, it reuses that
# variable or starts ../shared/pyroscope-server (tests/integration/pyro.py).
# Exit 77 = no server and PYROSCOPE_REQUIRE_SERVER is not 1 (skip).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v ruby >/dev/null || [ ! -f ext/pyroscope/pyroscope_ext.so ]; then
    # Installs Ruby and the build deps, builds the extension in place.
    RUBY_CI_BUILD_ONLY=1 bash ci.sh
fi
exec python3 test/integration/check.py
