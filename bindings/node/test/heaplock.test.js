'use strict';
// Heap + lock profiling of the C core on in a Node process (zero-code
// LD_PRELOAD of libpyroscope.so, which interposes malloc and pthread
// mutexes) together with this package's profiler: the program must finish
// (no deadlock: the fixture runs under a deadline), the preloaded core must
// write memory and mutex profiles of node's native code, and this package
// its own CPU profile.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { runFixture, readProfilesDir, onStack } = require('./helpers');

const coreBuild = path.join(__dirname, '..', 'build', 'core');

function sharedCore() {
  if (!fs.existsSync(path.join(coreBuild, 'CMakeCache.txt'))) return null;
  const r = spawnSync('cmake', ['--build', coreBuild, '--target', 'pyroscope', '-j', process.env.PYROSCOPE_JOBS || '2'],
    { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building libpyroscope.so failed:\n${r.stdout}${r.stderr}`);
  const so = path.join(coreBuild, 'libpyroscope.so');
  return fs.existsSync(so) ? so : null;
}

test('LD_PRELOAD heap+lock with the Node profiler: no deadlock, both profile', { timeout: 600000 }, async (t) => {
  const so = sharedCore();
  if (so === null) {
    t.skip('no core build directory (run npm install first)');
    return;
  }
  const coreDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-hl-core-'));
  const nodeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-hl-node-'));
  try {
    const { stdout } = await runFixture('heaplock.js', {
      LD_PRELOAD: so,
      PYROSCOPE_APPLICATION_NAME: 'node.preload',
      PYROSCOPE_SERVER_ADDRESS: `file://${coreDir}`,
      PYROSCOPE_PROFILE_TYPES: 'heap,lock',
      PYROSCOPE_UPLOAD_INTERVAL: '1s',
      PYRO_NODE_SERVER: `file://${nodeDir}`,
    }, 300000);
    assert.match(stdout, /"ok":true/);
    const core = readProfilesDir(coreDir);
    const heap = core.filter((p) => p.file.startsWith('node.preload.memory.'));
    const mutex = core.filter((p) => p.file.startsWith('node.preload.mutex.'));
    const sum = (ps, i) => ps.flatMap((p) => p.profile.samples).reduce((a, s) => a + s.values[i], 0);
    console.log(`# core: ${heap.length} memory profiles (alloc_space ${sum(heap, 1)}), ${mutex.length} mutex profiles (${sum(mutex, 0)} contentions); files ${core.length}`);
    assert.ok(heap.length > 0 && sum(heap, 1) > 0, 'no native heap samples from the preloaded core');
    const mine = readProfilesDir(nodeDir).filter((p) => p.file.startsWith('node.heaplock.cpu.')).flatMap((p) => p.profile.samples);
    const churn = mine.filter((s) => onStack(s, 'jsonChurn')).reduce((a, s) => a + s.values[0], 0);
    assert.ok(churn > 0, 'no jsonChurn samples in the Node profiler\'s profile');
  } finally {
    fs.rmSync(coreDir, { recursive: true, force: true });
    fs.rmSync(nodeDir, { recursive: true, force: true });
  }
});
