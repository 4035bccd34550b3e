# Start and stop one real Grafana Pyroscope server; sourced by
# tests/integration/run.sh, scripts/demo.sh and .ci/run.
#
#   . tests/integration/server.sh
#   pyro_server_start || rc=$?   # 0 up (PYROSCOPE_TEST_SERVER set and
#                                # exported), 2 none available, 1 failed
#   pyro_server_stop             # by pid; removes the data directory
#
# PYROSCOPE_SERVER_BIN     an already decompressed server binary
# PYROSCOPE_SERVER_WORK    where to decompress it (once) and keep data
#                          (default <repo>/build/pyroscope-server)
# PYROSCOPE_SHARED_SERVER  the directory with run.sh + pyroscope-server.zst
#                          (default <repo>/../shared/pyroscope-server)
# PYROSCOPE_SERVER_START_TIMEOUT  seconds to wait for /ready (300)
# pyro_server_why holds the reason when start returns 2 or 1.

pyro_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pyro_repo=$(cd "$pyro_here/../.." && pwd)
pyro_server_pid=""
pyro_server_data=""
pyro_server_log=""
pyro_server_why=""

pyro_ready() {
    python3 -c "import sys; sys.path.insert(0, '$pyro_here'); import pyro
sys.exit(0 if pyro.ready('$1') else 1)"
}

pyro_shared_dir() {
    echo "${PYROSCOPE_SHARED_SERVER:-$pyro_repo/../shared/pyroscope-server}"
}

pyro_server_available() {
    local d
    d=$(pyro_shared_dir)
    [ -f "$d/run.sh" ] && [ -f "$d/pyroscope-server.zst" ]
}

# Decompress once: later runs (and later stages of one CI run) reuse it.
pyro_server_unpack() {
    local shared work
    shared=$(pyro_shared_dir)
    work=${PYROSCOPE_SERVER_WORK:-$pyro_repo/build/pyroscope-server}
    mkdir -p "$work" || return 1
    export PYROSCOPE_SERVER_BIN=${PYROSCOPE_SERVER_BIN:-$work/pyroscope-server}
    [ -x "$PYROSCOPE_SERVER_BIN" ] && return 0
    command -v zstd >/dev/null || {
        pyro_server_why="zstd is not installed (apt-get install -y zstd)"
        return 1
    }
    echo "[$(date -u +%T)] decompressing the server to $PYROSCOPE_SERVER_BIN"
    zstd -q -d -f "$shared/pyroscope-server.zst" \
         -o "$PYROSCOPE_SERVER_BIN.tmp" &&
        chmod +x "$PYROSCOPE_SERVER_BIN.tmp" &&
        mv "$PYROSCOPE_SERVER_BIN.tmp" "$PYROSCOPE_SERVER_BIN"
}

pyro_server_start() {
    local shared work port deadline
    if ! pyro_server_available; then
        pyro_server_why="no real server: $(pyro_shared_dir) is absent"
        return 2
    fi
    pyro_server_unpack || {
        pyro_server_why=${pyro_server_why:-"cannot decompress the server"}
        return 1
    }
    shared=$(pyro_shared_dir)
    work=${PYROSCOPE_SERVER_WORK:-$pyro_repo/build/pyroscope-server}
    port=$(python3 -c "import sys; sys.path.insert(0, '$pyro_here')
import pyro; print(pyro._free_port())") || {
        pyro_server_why="no free port"
        return 1
    }
    pyro_server_data="$work/data-$$-$port"
    pyro_server_log="$pyro_server_data.log"
    mkdir -p "$pyro_server_data" || return 1
    # From inside the data directory: the server keeps some state (the
    # metastore's raft log) relative to its working directory.
    (cd "$pyro_server_data" &&
        exec bash "$shared/run.sh" "$pyro_server_data" "$port") \
        >"$pyro_server_log" 2>&1 &
    pyro_server_pid=$!
    export PYROSCOPE_TEST_SERVER="http://127.0.0.1:$port"
    echo "[$(date -u +%T)] server pid $pyro_server_pid on" \
         "$PYROSCOPE_TEST_SERVER, waiting for /ready"
    deadline=$(($(date +%s) + ${PYROSCOPE_SERVER_START_TIMEOUT:-300}))
    until pyro_ready "$PYROSCOPE_TEST_SERVER"; do
        if ! kill -0 "$pyro_server_pid" 2>/dev/null; then
            tail -20 "$pyro_server_log"
            pyro_server_why="the server exited before it was ready"
            pyro_server_pid=""
            unset PYROSCOPE_TEST_SERVER
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -20 "$pyro_server_log"
            pyro_server_why="the server was not ready in time"
            pyro_server_stop
            unset PYROSCOPE_TEST_SERVER
            return 1
        fi
        sleep 1
    done
    echo "[$(date -u +%T)] server ready"
}

pyro_server_stop() {
    local pid=$pyro_server_pid
    [ -n "$pid" ] || return 0
    pyro_server_pid=""
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "[$(date -u +%T)] server pid $pid stopped"
    fi
    [ -n "$pyro_server_data" ] && rm -rf "$pyro_server_data"
    return 0
}
