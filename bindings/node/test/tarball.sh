#!/usr/bin/env bash
# The npm tarball installs and works in an empty directory outside the
# repository: `npm pack` bundles the C core, `npm install <tgz>` builds it,
# and a CommonJS and an ESM program profile to file:// and decode the result.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/pyro-node-tarball.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cd "$here"
tgz="$(npm pack --silent --pack-destination "$work" | tail -1)"
echo "::: tarball: $tgz ($(du -h "$work/$tgz" | cut -f1))"
tar tzf "$work/$tgz" > "$work/list"
grep -q '^package/core/include/pyroscope.h$' "$work/list" || { echo "core not bundled"; exit 1; }
grep -q '^package/core/src/core/pyroscope.c$' "$work/list" || { echo "core sources not bundled"; exit 1; }
if grep -q '^package/build/\|^package/node_modules/' "$work/list"; then echo "build/ or node_modules/ packed"; exit 1; fi

mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
# Only the tarball: no registry access is needed, and nothing of the
# repository is reachable from here (the build uses the bundled core/).
PYROSCOPE_JOBS="${PYROSCOPE_JOBS:-2}" npm install --no-audit --no-fund --foreground-scripts --offline "$work/$tgz" \
  > "$work/install.log" 2>&1 || { tail -40 "$work/install.log"; exit 1; }
grep -q "node_modules/pyroscope-nodejs-native/core" "$work/install.log" || { echo "build did not use the bundled core"; tail -20 "$work/install.log"; exit 1; }

mkdir "$work/prof"
cat > cjs.js <<'JS'
const Pyroscope = require('pyroscope-nodejs-native');
Pyroscope.init({ appName: 'tarball', serverAddress: process.argv[2], basicAuthUser: '', flushIntervalMs: 1000 });
Pyroscope.start();
function tarballWork() { let x = 0; const end = Date.now() + 800; while (Date.now() < end) x += Math.random(); return x; }
Pyroscope.wrapWithLabels({ job: 'cjs' }, tarballWork);
Pyroscope.stop().then(() => console.log('cjs ok'));
JS
cat > esm.mjs <<'JS'
import Pyroscope, { init, start, stop, wrapWithLabels, SourceMapper, expressMiddleware } from 'pyroscope-nodejs-native';
if (typeof SourceMapper.create !== 'function' || typeof expressMiddleware !== 'function' || Pyroscope.init !== init) process.exit(3);
init({ appName: 'tarball-esm', serverAddress: process.argv[2], flushIntervalMs: 1000 });
start();
function esmWork() { let x = 0; const end = Date.now() + 800; while (Date.now() < end) x += Math.random(); return x; }
wrapWithLabels({ job: 'esm' }, esmWork);
await stop();
console.log('esm ok');
JS
node cjs.js "file://$work/prof"
node esm.mjs "file://$work/prof"
node -e '
const fs = require("fs");
const { readProfile } = require(process.argv[1] + "/test/pprof.js");
const dir = process.argv[2];
const files = fs.readdirSync(dir);
const has = (prefix, fn, label) => files.filter((f) => f.startsWith(prefix)).some((f) =>
  readProfile(fs.readFileSync(dir + "/" + f)).samples.some((s) => s.labels.job === label && s.stack.some((fr) => fr.name.includes(":" + fn + ":"))));
for (const [p, fn, l] of [["tarball.cpu.", "tarballWork", "cjs"], ["tarball.wall.", "tarballWork", "cjs"], ["tarball-esm.cpu.", "esmWork", "esm"]]) {
  if (!has(p, fn, l)) { console.error("missing", p, fn, "in", files); process.exit(1); }
}
console.log("::: tarball install works: " + files.length + " profiles");
' "$here" "$work/prof"
