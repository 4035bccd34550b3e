'use strict';
// A process that exits without stop() still uploads its last window, and a
// worker thread can load the addon without affecting the main profiler.
const test = require('node:test');
const assert = require('node:assert');
const { startIngestServer, runFixture, onStack } = require('./helpers');

test('exit without stop() uploads the last window; workers are refused', async () => {
  const srv = await startIngestServer();
  try {
    const { stdout } = await runFixture('exit.js', { PYRO_SERVER: srv.url });
    assert.match(stdout, /"workerStart":"ERR_PYROSCOPE_THREAD"/);
    const samples = srv.uploads.flatMap((u) => u.profile.samples);
    const n = samples.filter((s) => onStack(s, 'exitWork')).reduce((a, s) => a + s.values[0], 0);
    assert.ok(n > 10, `exitWork samples uploaded at exit: ${n}`);
  } finally {
    await srv.close();
  }
});
