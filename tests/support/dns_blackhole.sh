#!/usr/bin/env bash
# Run "$@" with /etc/resolv.conf pointing at a DNS server that takes every
# query and never answers (UDP and TCP on 127.0.0.9:53), in a private mount
# namespace.  Exit 77 (skip) where namespaces or port 53 are not ours.
set -u
command -v unshare >/dev/null || { echo "skip - no unshare"; exit 77; }
dir=$(mktemp -d)
trap 'kill $sink 2>/dev/null; rm -rf "$dir"' EXIT
python3 - <<'PY' &
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.9", 53))
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.9", 53))
t.listen(64)
time.sleep(600)
PY
sink=$!
printf 'nameserver 127.0.0.9\noptions timeout:5 attempts:2\n' >"$dir/resolv.conf"
for _ in $(seq 100); do
    python3 -c 'import socket; s=socket.socket(); s.settimeout(0.2); s.connect(("127.0.0.9", 53))' 2>/dev/null && break
    kill -0 $sink 2>/dev/null || { echo "skip - cannot bind 127.0.0.9:53"; exit 77; }
    sleep 0.05
done
unshare --mount true 2>/dev/null || { echo "skip - unshare --mount not permitted"; exit 77; }
unshare --mount bash -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
    "$dir/resolv.conf" "$@"
