#!/bin/sh
# Independent reader: `go tool pprof -raw` must parse what we write and see
# the example's hot functions.  Exit 77 (skipped) when Go is not installed.
set -e
example="$1"
command -v go >/dev/null 2>&1 || { echo "go not found: skipped"; exit 77; }
dir=$(mktemp -d /tmp/pyroscope-go-XXXXXX)
trap 'rm -rf "$dir"' EXIT
PYROSCOPE_APPLICATION_NAME=gocheck PYROSCOPE_SERVER_ADDRESS="file://$dir" \
    PYROSCOPE_LOG_LEVEL=error "$example" 1
found=0
for f in "$dir"/*.pb.gz; do
    go tool pprof -raw "$f" > "$dir/raw.txt" 2>&1
    grep -q "PeriodType: cpu nanoseconds" "$dir/raw.txt"
    grep -q "samples/count cpu/nanoseconds" "$dir/raw.txt"
    if grep -q "hot_compress" "$dir/raw.txt" && grep -q "hot_checksum" "$dir/raw.txt"; then
        found=1
    fi
done
[ "$found" = 1 ] || { echo "hot functions not found"; cat "$dir/raw.txt"; exit 1; }
echo "ok - go tool pprof -raw reads the profile"
