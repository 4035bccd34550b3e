'use strict';
// The environment variables of @pyroscope/nodejs are read like there.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { runFixture, readProfilesDir, onStack } = require('./helpers');

test('PYROSCOPE_* environment variables configure init()', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-env-'));
  try {
    await runFixture('env.js', {
      PYROSCOPE_APPLICATION_NAME: 'node.env',
      PYROSCOPE_SERVER_ADDRESS: `file://${dir}`,
      PYROSCOPE_FLUSH_INTERVAL_MS: '500',
      PYROSCOPE_WALL_COLLECT_CPU_TIME: 'true',
      PYROSCOPE_WALL_SAMPLING_INTERVAL_MICROS: '2000',
      PYROSCOPE_HEAP_SAMPLING_INTERVAL_BYTES: '4096',
      PYROSCOPE_HEAP_STACK_DEPTH: '16',
      PYROSCOPE_AUTH_TOKEN: 'not-sent-to-file',
    }, 240000);
    const profiles = readProfilesDir(dir);
    const of = (kind) => profiles.filter((p) => p.file.startsWith(`node.env.${kind}.`));
    assert.ok(of('cpu').length >= 2, `windows of 500 ms: ${of('cpu').length} cpu profiles`);
    const wall = of('wall').map((p) => p.profile);
    assert.ok(wall.length > 0);
    assert.deepStrictEqual(wall[0].sampleTypes.map((t) => t.type), ['samples', 'wall', 'cpu']);
    assert.strictEqual(Number(wall[0].period), 2000000);
    const cpuNs = wall.flatMap((p) => p.samples).filter((s) => onStack(s, 'envWork')).reduce((a, s) => a + s.values[2], 0);
    assert.ok(cpuNs > 0.5e9, `cpu/nanoseconds of envWork in the wall profile: ${cpuNs}`);
    const heap = of('memory').map((p) => p.profile);
    assert.ok(heap.length > 0, 'no heap profile');
    assert.strictEqual(Number(heap[0].period), 4096);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
