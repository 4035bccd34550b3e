#!/bin/sh
# The Node binding packed with npm pack and installed from the tarball into
# the sample app's node_modules (no link back to the source tree).
# SRC=<repo> APP=<out dir>
set -eu
SRC=${SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
APP=${APP:-/app}
mkdir -p "$APP"
cp "$SRC/examples/docker/node/app.js" "$APP/"
# npm pack prints the file name last (prepack scripts may print before it).
tgz=$(cd "$SRC/bindings/node" && npm pack --silent --pack-destination "$APP" | tail -n 1)
cd "$APP"
[ -f package.json ] || echo '{"name":"docker-node-demo","private":true}' >package.json
npm install --no-audit --no-fund "./$tgz"
rm -f "$tgz"
