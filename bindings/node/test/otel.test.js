'use strict';
// OpenTelemetry span profiles with the real @opentelemetry/sdk-trace-base:
// local root spans get pyroscope.profile.id = their span id; samples taken
// inside a root span (and its children) carry span_id / span_name of the
// root; work outside spans carries neither.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { runFixture, readProfilesDir, onStack } = require('./helpers');

let haveOtel = true;
try {
  require.resolve('@opentelemetry/sdk-trace-base');
  require.resolve('@opentelemetry/context-async-hooks');
} catch {
  haveOtel = false; // ci.sh installs them (devDependencies)
}

test('span_id / span_name labels and pyroscope.profile.id', { skip: !haveOtel && 'OpenTelemetry SDK not installed' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-otel-'));
  try {
    const { stdout } = await runFixture('otel.js', { PYRO_SERVER: `file://${dir}` }, 240000);
    const { spans } = JSON.parse(stdout.trim().split('\n').pop());
    const byId = new Map(spans.map((s) => [s.id, s]));
    for (const s of spans) {
      if (s.parent === null) assert.strictEqual(s.attrs['pyroscope.profile.id'], s.id, `root ${s.name}`);
      else assert.strictEqual(s.attrs['pyroscope.profile.id'], undefined, `child ${s.name}`);
    }
    const samples = readProfilesDir(dir).filter((p) => p.file.startsWith('node.otel.cpu.')).flatMap((p) => p.profile.samples);
    const count = {};
    const bad = [];
    let v = 0;
    const bump = (k) => { count[k] = (count[k] || 0) + v; if (k.endsWith('BAD')) bad.push([k, v, s0.labels]); };
    let s0;
    for (const s of samples) {
      s0 = s;
      v = s.values[0];
      const fn = ['checkoutWork', 'chargeWork', 'searchWork', 'outsideWork'].find((f) => onStack(s, f));
      if (!fn) continue;
      const span = s.labels.span_id ? byId.get(s.labels.span_id) : null;
      const want = { checkoutWork: 'checkout', chargeWork: 'checkout', searchWork: 'search', outsideWork: null }[fn];
      if (want === null) {
        bump(s.labels.span_id === undefined ? `${fn}:none` : `${fn}:BAD`);
      } else if (span && span.name === want && span.parent === null && s.labels.span_name === want) {
        bump(`${fn}:ok`);
      } else {
        bump(`${fn}:BAD`);
      }
    }
    console.log(`# ${JSON.stringify(count)} ${JSON.stringify(bad)}`);
    for (const fn of ['checkoutWork', 'chargeWork', 'searchWork']) {
      const ok = count[`${fn}:ok`] || 0;
      const bad = count[`${fn}:BAD`] || 0;
      assert.ok(ok >= 20, `${fn}: ${ok} samples with its root span's labels`);
      assert.ok(bad <= 0.02 * (ok + bad), `${fn}: ${bad} samples with wrong span labels`);
    }
    assert.ok((count['outsideWork:none'] || 0) >= 20 && !(count['outsideWork:BAD'] > 1), 'outsideWork carries no span labels');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
