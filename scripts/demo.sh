#!/usr/bin/env bash
# End to end: build, start a local /ingest endpoint on loopback, profile the
# example (two hot functions on two threads) and show what arrived.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
out=$(mktemp -d /tmp/pyroscope-demo-XXXXXX)
port=${PORT:-4040}
python3 examples/ingest_server.py "$port" "$out" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.5
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
