'use strict';
// Heap profiles from V8's sampling heap profiler: live bytes kept by allocA
// and allocB (3 : 1) come back as inuse_space within 5 points, garbage that
// was collected does not count, and the profile has the types and period
// of @pyroscope/nodejs's heap profile.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { runFixture, readProfilesDir, onStack } = require('./helpers');

test('inuse_space split 75/25 between two allocation sites', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-heap-'));
  try {
    await runFixture('heap.js', { PYRO_SERVER: `file://${dir}`, NODE_OPTIONS: '--expose-gc' }, 240000);
    const profiles = readProfilesDir(dir).filter((p) => p.file.startsWith('node.heap.memory.'));
    assert.ok(profiles.length > 0, `no heap profile in ${fs.readdirSync(dir)}`);
    const p = profiles[profiles.length - 1].profile;
    assert.deepStrictEqual(p.sampleTypes, [{ type: 'inuse_objects', unit: 'count' }, { type: 'inuse_space', unit: 'bytes' }]);
    const sum = (fn) => p.samples.filter((s) => onStack(s, fn)).reduce((a, s) => a + s.values[1], 0);
    const a = sum('allocA');
    const b = sum('allocB');
    const temp = sum('allocTemp');
    const share = a / (a + b);
    console.log(`# heap: allocA=${a} allocB=${b} allocTemp=${temp} share=${(100 * share).toFixed(1)}%`);
    // ~4 KiB per array: 3000 + 1000 arrays, about 16 MB live.
    assert.ok(a + b > 8e6 && a + b < 40e6, `live bytes estimate ${a + b}`);
    assert.ok(Math.abs(share - 0.75) <= 0.05, `allocA share ${(100 * share).toFixed(1)}%`);
    assert.ok(temp < 0.05 * (a + b), `collected garbage still counted: ${temp}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
