#!/usr/bin/env bash
# The integration suite against a real Grafana Pyroscope server.
#
#   tests/integration/run.sh            (BUILD_DIR=build by default)
#
# Reuses the server named by PYROSCOPE_TEST_SERVER, or starts ONE from
# ../shared/pyroscope-server (see server.sh for the knobs); exports
# PYROSCOPE_TEST_SERVER, runs the C checks (test_c.py), then every
# bindings/*/integration.sh, and fails if any of them fails.  No server
# available: exit 77 (skip), or 1 when PYROSCOPE_REQUIRE_SERVER=1 (CI).
# A server it started is stopped by its pid on exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
build=${BUILD_DIR:-build}
require=${PYROSCOPE_REQUIRE_SERVER:-0}
say() { echo "[$(date -u +%T)] integration: $*"; }
. "$here/server.sh"

no_server() {
    if [ "$require" = 1 ]; then
        say "FAIL: $* (required here: PYROSCOPE_REQUIRE_SERVER=1)"
        exit 1
    fi
    say "skip: $*"
    exit 77
}

trap pyro_server_stop EXIT
trap 'pyro_server_stop; exit 130' INT TERM

if [ -n "${PYROSCOPE_TEST_SERVER:-}" ]; then
    PYROSCOPE_TEST_SERVER=${PYROSCOPE_TEST_SERVER%/}
    pyro_ready "$PYROSCOPE_TEST_SERVER" ||
        no_server "PYROSCOPE_TEST_SERVER=$PYROSCOPE_TEST_SERVER is not ready"
    say "reusing $PYROSCOPE_TEST_SERVER"
else
    rc=0
    pyro_server_start || rc=$?
    if [ "$rc" = 2 ]; then
        no_server "$pyro_server_why and PYROSCOPE_TEST_SERVER is unset"
    elif [ "$rc" != 0 ]; then
        say "FAIL: $pyro_server_why"
        exit 1
    fi
fi
export PYROSCOPE_TEST_SERVER

if [ ! -x "$build/tests/it_app" ]; then
    say "building into $build"
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        >/dev/null && cmake --build "$build" -j2 >/dev/null ||
        { say "FAIL: build"; exit 1; }
fi

failed=()
say "C checks"
python3 "$here/test_c.py" --build "$build" \
    --table "$build/integration-c.md" || failed+=("C")
say "C over OTLP (api = otlp, span profiles)"
python3 "$here/otlp.py" "$build" || failed+=("C OTLP")
for s in bindings/*/integration.sh; do
    [ -f "$s" ] || continue
    say "$s"
    bash "$s"
    rc=$?
    if [ "$rc" = 77 ] && [ "$require" != 1 ]; then
        say "$s skipped"
    elif [ "$rc" != 0 ]; then
        failed+=("$s (exit $rc)")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    if [ -n "$pyro_server_log" ]; then
        echo "--- server log tail:"
        tail -20 "$pyro_server_log"
    fi
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all passed"
