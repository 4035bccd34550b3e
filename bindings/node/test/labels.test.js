'use strict';
// Labels follow the async context: concurrent requests labelled route=a and
// route=b interleave at awaits; every sample of handleA must carry route=a,
// every sample of handleB route=b, and the unlabelled background timer none.
const test = require('node:test');
const assert = require('node:assert');
const { startIngestServer, runFixture, onStack, kindOf } = require('./helpers');

test('labels across concurrent async requests land on the right samples', async () => {
  const srv = await startIngestServer();
  try {
    const { stdout } = await runFixture('labels.js', { PYRO_SERVER: srv.url, PYRO_RATE: '250', PYRO_SECONDS: '5' });
    const out = JSON.parse(stdout.trim().split('\n').pop());
    assert.strictEqual(out.seen.bad, 0, 'getLabels() saw a foreign label');
    assert.ok(out.seen.a > 10 && out.seen.b > 10, `requests served: ${JSON.stringify(out.seen)}`);
    const count = { a: { a: 0, b: 0, none: 0 }, b: { a: 0, b: 0, none: 0 }, bg: { a: 0, b: 0, none: 0 } };
    for (const u of srv.uploads) {
      assert.ifError(u.error);
      assert.strictEqual(u.app, 'node.labels');
      if (kindOf(u.profile) !== 'cpu') continue;
      // /ingest carries the tags in the series name; pprof labels are also accepted.
      const route = u.tags.route || undefined;
      for (const s of u.profile.samples) {
        const r = route || s.labels.route;
        const key = r === 'a' ? 'a' : r === 'b' ? 'b' : 'none';
        const v = s.values[0];
        if (onStack(s, 'handleA')) count.a[key] += v;
        else if (onStack(s, 'handleB')) count.b[key] += v;
        else if (onStack(s, 'background')) count.bg[key] += v;
      }
    }
    console.log(`# label counts ${JSON.stringify(count)} v8=${JSON.stringify(out.stats.v8)}`);
    const tot = (c) => c.a + c.b + c.none;
    assert.ok(tot(count.a) >= 100 && tot(count.b) >= 100, 'too few handler samples');
    assert.ok(tot(count.bg) >= 20, 'too few background samples');
    // A foreign label is wrong: at most 1% (a sample right at a context
    // switch).  A sample matched to no label (V8's sample timestamp falls
    // between two context switches on a loaded machine) is a lesser error:
    // at most 3% unlabelled.
    assert.ok(count.a.b <= 0.01 * tot(count.a), `handleA samples: ${JSON.stringify(count.a)}`);
    assert.ok(count.b.a <= 0.01 * tot(count.b), `handleB samples: ${JSON.stringify(count.b)}`);
    assert.ok(count.a.a >= 0.97 * tot(count.a), `handleA samples: ${JSON.stringify(count.a)}`);
    assert.ok(count.b.b >= 0.97 * tot(count.b), `handleB samples: ${JSON.stringify(count.b)}`);
    assert.ok(count.bg.a + count.bg.b <= 0.01 * tot(count.bg), `background samples: ${JSON.stringify(count.bg)}`);
    assert.ok(count.bg.none >= 0.97 * tot(count.bg), `background samples: ${JSON.stringify(count.bg)}`);
  } finally {
    await srv.close();
  }
});
