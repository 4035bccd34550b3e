'use strict';
// A JS workload split 75% / 25% between two functions must come back from the
// decoded pprof within 3 percentage points, with JS names, files and lines.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startIngestServer, runFixture, readProfilesDir, onStack, fnName, kindOf } = require('./helpers');

// Sums the profile's second value (cpu or wall nanoseconds); `samples`
// counts the samples behind them.
function split(profiles) {
  let heavy = 0;
  let light = 0;
  let total = 0;
  let samples = 0;
  const other = new Map();
  for (const p of profiles) {
    for (const s of p.samples) {
      const v = s.values[1];
      if (onStack(s, 'heavyWork') || onStack(s, 'lightWork')) samples += s.values[0];
      total += v;
      if (onStack(s, 'heavyWork')) heavy += v;
      else if (onStack(s, 'lightWork')) light += v;
      else {
        const k = s.stack.slice(0, 3).map((f) => `${f.name}:${f.line}`).join('<');
        other.set(k, (other.get(k) || 0) + v);
      }
    }
  }
  const top = [...other].sort((a, b) => b[1] - a[1]).slice(0, 3);
  return { heavy, light, total, samples, share: heavy / (heavy + light), top: JSON.stringify(top) };
}

test('75/25 split over HTTP /ingest (1000 Hz, ~5000 samples)', async () => {
  const srv = await startIngestServer();
  try {
    const { stdout } = await runFixture('split.js', { PYRO_SERVER: srv.url, PYRO_RATE: '1000', PYRO_CPU_SECONDS: '4' }, 240000);
    assert.ok(srv.uploads.length > 0, 'no upload received');
    for (const u of srv.uploads) {
      assert.ifError(u.error);
      assert.strictEqual(u.app, 'node.split');
      assert.ok(['cpu', 'wall', 'memory'].includes(kindOf(u.profile)), kindOf(u.profile));
      assert.strictEqual(u.tags.suite, 'split');
      assert.strictEqual(u.tags['process.runtime.name'], 'nodejs');
      assert.strictEqual(u.tags['otel.scope.name'], 'com.grafana.pyroscope/nodejs');
      assert.strictEqual(u.query.spyName, 'nodespy');
      assert.strictEqual(u.query.format, undefined); // multipart: no format=pprof
    }
    const cpu = srv.uploads.filter((u) => kindOf(u.profile) === 'cpu');
    const wall = srv.uploads.filter((u) => kindOf(u.profile) === 'wall');
    assert.ok(wall.length > 0, 'no wall profile');
    assert.deepStrictEqual(wall[0].profile.sampleTypes.map((t) => t.type), ['samples', 'wall']);
    const w = split(wall.map((u) => u.profile));
    console.log(`# wall split: share=${(100 * w.share).toFixed(2)}%`);
    assert.ok(Math.abs(w.share - 0.75) <= 0.03, `wall heavy share ${(100 * w.share).toFixed(2)}%`);
    const r = split(cpu.map((u) => u.profile));
    console.log(`# split: heavy=${r.heavy} light=${r.light} total=${r.total} samples=${r.samples} share=${(100 * r.share).toFixed(2)}% other=${r.top} ${stdout.trim()}`);
    assert.ok(r.samples >= 1000, `too few samples: ${r.samples}`);
    assert.ok(Math.abs(r.share - 0.75) <= 0.03, `heavy share ${(100 * r.share).toFixed(2)}% not within 3 points of 75%`);
    // Frames carry the JS file and line of the function.
    const sample = cpu.flatMap((u) => u.profile.samples).find((s) => onStack(s, 'heavyWork'));
    const fr = sample.stack.find((f) => fnName(f) === 'heavyWork');
    assert.match(fr.file, /fixtures[/\\]split\.js$/);
    assert.strictEqual(fr.line, 19);
    assert.strictEqual(fr.name, './test/fixtures/split.js:heavyWork:19');
    // Leaf first: callees before callers.  spin() is not always there
    // (TurboFan may inline it into heavyWork, CI saw that once), so the
    // order is checked on heavyWork under round, and on spin when present.
    const idx = (st, fn) => st.findIndex((f) => fnName(f) === fn);
    const both = cpu.flatMap((u) => u.profile.samples).filter((s) => onStack(s, 'heavyWork') && onStack(s, 'round'));
    assert.ok(both.length > 0, 'no sample with heavyWork under round');
    assert.ok(both.every((s) => idx(s.stack, 'heavyWork') < idx(s.stack, 'round')), 'leaf-first: heavyWork before round');
    const spins = both.filter((s) => onStack(s, 'spin'));
    assert.ok(spins.every((s) => idx(s.stack, 'spin') < idx(s.stack, 'heavyWork')), 'leaf-first: spin before heavyWork');
  } finally {
    await srv.close();
  }
});

// At the default 100 Hz, 4 s of CPU give ~400 samples: binomial noise
// alone is +-2 points (1 sd), so this run checks the split loosely.
test('file:// server address, default rate: decodable profiles, rough split', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-node-'));
  try {
    await runFixture('split.js', { PYRO_SERVER: `file://${dir}`, PYRO_CPU_SECONDS: '4' }, 240000);
    const profiles = readProfilesDir(dir);
    assert.ok(profiles.length > 0, `no profile files in ${dir}: ${fs.readdirSync(dir)}`);
    const r = split(profiles.filter((p) => p.file.startsWith('node.split.cpu.')).map((p) => p.profile));
    console.log(`# file split: heavy=${r.heavy} light=${r.light} share=${(100 * r.share).toFixed(2)}%`);
    assert.ok(r.samples >= 200, `too few samples: ${r.samples}`);
    assert.ok(Math.abs(r.share - 0.75) <= 0.08, `heavy share ${(100 * r.share).toFixed(2)}%`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
