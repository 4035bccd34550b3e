'use strict';
// A process that exits without stop() still uploads its last window, and
// worker_threads' JavaScript is profiled (with and without start() in the
// worker).
const test = require('node:test');
const assert = require('node:assert');
const { startIngestServer, runFixture, onStack, kindOf } = require('./helpers');

test('exit without stop() uploads the last window; workers are profiled', async () => {
  const srv = await startIngestServer();
  try {
    await runFixture('exit.js', { PYRO_SERVER: srv.url });
    const samples = srv.uploads.filter((u) => u.app === 'node.exit' && kindOf(u.profile) === 'cpu').flatMap((u) => u.profile.samples);
    const sum = (fn) => samples.filter((s) => onStack(s, fn)).reduce((a, s) => a + s.values[0], 0);
    const n = { exitWork: sum('exitWork'), workerPlain: sum('workerPlain'), workerExplicit: sum('workerExplicit') };
    console.log(`# ${JSON.stringify(n)}`);
    assert.ok(n.exitWork > 10, `exitWork samples uploaded at exit: ${n.exitWork}`);
    assert.ok(n.workerPlain > 10, `plain worker samples: ${n.workerPlain}`);
    assert.ok(n.workerExplicit > 10, `worker that called start(): ${n.workerExplicit}`);
  } finally {
    await srv.close();
  }
});
