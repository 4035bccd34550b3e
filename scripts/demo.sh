#!/usr/bin/env bash
# End to end: build, profile examples/cpu_hotspots.c (two hot functions on
# two threads, 75% / 25% of the CPU) and show what the server received.
#
# With a real Grafana Pyroscope server: PYROSCOPE_TEST_SERVER (a base URL)
# is used as is; else ../shared/pyroscope-server is started on a free port
# (about a minute), stopped by its pid at the end.  The profile is then
# queried back through the server's own API (SelectMergeStacktraces) and the
# top functions of its answer are printed.  Without either, a small stand-in
# for /ingest (examples/ingest_server.py, PORT=4040) receives it and
# `go tool pprof` shows it.  DEMO_STANDIN=1 forces the stand-in.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
. tests/integration/server.sh
trap pyro_server_stop EXIT

app="cpu_hotspots-demo-$(date +%s)"
url=${PYROSCOPE_TEST_SERVER:-}
if [ -z "$url" ] && [ "${DEMO_STANDIN:-0}" != 1 ] && pyro_server_available; then
    if pyro_server_start; then
        url=$PYROSCOPE_TEST_SERVER
    else
        echo "demo: cannot start the real server ($pyro_server_why);" \
             "using the stand-in" >&2
    fi
fi

if [ -n "$url" ] && [ "${DEMO_STANDIN:-0}" != 1 ]; then
    url=${url%/}
    echo "--- profiling cpu_hotspots into the real server at $url"
    PYROSCOPE_APPLICATION_NAME=$app PYROSCOPE_SERVER_ADDRESS=$url \
    PYROSCOPE_UPLOAD_INTERVAL=2s ./build/examples/cpu_hotspots 4
    echo "--- top functions (self CPU) of {service_name=\"$app\"}," \
         "as the server's query API returns them:"
    python3 - "$url" "$app" <<'PY'
import sys
sys.path.insert(0, "tests/integration")
import pyro
url, app = sys.argv[1], sys.argv[2]
sel = '{service_name="%s"}' % app
st = pyro.wait_stable(url, pyro.CPU, sel, ["hot_compress", "hot_checksum"],
                      timeout=120)
print("profile types: %s" % ", ".join(pyro.profile_types(url, sel)))
for fn, v in st.top(8):
    print("%6.1f%%  %7.2f s  %s" % (100.0 * v / st.grand, v / 1e9, fn))
print("hot_compress / (hot_compress + hot_checksum) = %.1f%% (built: 75%%)"
      % (100 * st.split("hot_compress", "hot_checksum")))
PY
    exit 0
fi

out=$(mktemp -d /tmp/pyroscope-demo-XXXXXX)
port=${PORT:-4040}
python3 examples/ingest_server.py "$port" "$out" &
standin=$!
trap 'kill $standin 2>/dev/null || true' EXIT
deadline=$(($(date +%s) + 30))
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" \
        2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "stand-in did not start" >&2; exit 1; }
    sleep 0.2
done
echo "--- profiling cpu_hotspots into the stand-in on 127.0.0.1:$port"
PYROSCOPE_APPLICATION_NAME=cpu_hotspots \
PYROSCOPE_SERVER_ADDRESS="http://127.0.0.1:$port" \
PYROSCOPE_UPLOAD_INTERVAL=2s \
    ./build/examples/cpu_hotspots 4
for f in "$out"/*.pb.gz; do last=$f; done
echo "--- last profile received, read by go tool pprof:"
if command -v go >/dev/null; then
    go tool pprof -top "$last" 2>/dev/null | head -12
else
    ls -l "$out"
fi
