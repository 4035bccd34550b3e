'use strict';
// In-process API checks: option validation errors and label semantics.
const test = require('node:test');
const assert = require('node:assert');
const Pyroscope = require('..');

const ok = { appName: 'node.test', serverAddress: 'http://127.0.0.1:1' };

function throwsWith(opts, Type, re) {
  assert.throws(() => Pyroscope.init(opts), (err) => {
    assert.ok(err instanceof Type, `expected ${Type.name}, got ${err && err.constructor.name}: ${err && err.message}`);
    assert.match(err.message, re);
    return true;
  });
}

test('bad options throw TypeError / RangeError with a clear message', () => {
  throwsWith('app', TypeError, /options must be an object/);
  throwsWith({ ...ok, appName: 42 }, TypeError, /appName must be a string, got number 42/);
  throwsWith({ ...ok, appName: '' }, TypeError, /appName must not be empty/);
  throwsWith({ ...ok, appName: 'my app' }, TypeError, /appName .* must not contain/);
  throwsWith({ serverAddress: 'http://x:1' }, TypeError, /appName is required/);
  throwsWith({ ...ok, serverAddress: 'localhost:4040' }, TypeError, /serverAddress must look like/);
  throwsWith({ ...ok, serverAddress: 4040 }, TypeError, /serverAddress must be a string/);
  throwsWith({ ...ok, sampleRate: 0 }, RangeError, /sampleRate must be an integer in \[1, 10000\], got 0/);
  throwsWith({ ...ok, sampleRate: 10001 }, RangeError, /sampleRate/);
  throwsWith({ ...ok, sampleRate: 99.5 }, RangeError, /sampleRate/);
  throwsWith({ ...ok, sampleRate: '100' }, TypeError, /sampleRate must be a number/);
  throwsWith({ ...ok, flushIntervalMs: 5 }, RangeError, /flushIntervalMs/);
  throwsWith({ ...ok, tags: 'env=prod' }, TypeError, /tags must be a plain object/);
  throwsWith({ ...ok, tags: { env: { a: 1 } } }, TypeError, /tags.env must be a string/);
  throwsWith({ ...ok, tags: { 'bad key': 'x' } }, TypeError, /invalid tags "bad key"/);
  throwsWith({ ...ok, tags: { env: 'a,b' } }, TypeError, /invalid tags "env"="a,b"/);
  throwsWith({ ...ok, authToken: 7 }, TypeError, /authToken must be a string/);
  throwsWith({ ...ok, basicAuthUser: 'u' }, TypeError, /go together/);
  throwsWith({ ...ok, tenantID: {} }, TypeError, /tenantID must be a string/);
  throwsWith({ ...ok, httpHeaders: { 'X Bad': 'v' } }, TypeError, /invalid header name/);
  throwsWith({ ...ok, httpHeaders: { 'X-Ok': 'a\r\nb' } }, TypeError, /CR, LF/);
  throwsWith({ ...ok, logLevel: 'loud' }, TypeError, /logLevel must be one of/);
  throwsWith({ ...ok, sampelRate: 100 }, TypeError, /unknown option "sampelRate"/);
  // Good options pass, including the official package's option names.
  Pyroscope.init({ ...ok, tags: { env: 'test', n: 1 }, sampleRate: 250, authToken: 't', tenantID: 'x',
    httpHeaders: { 'X-Extra': 'y' }, flushIntervalMs: 5000, logLevel: 'error', wall: {}, heap: {} });
  assert.strictEqual(Pyroscope.isRunning(), false);
});

test('wrapWithLabels: argument checks, return value, nesting', () => {
  assert.throws(() => Pyroscope.wrapWithLabels({ a: 'b' }, 'nope'), TypeError);
  assert.throws(() => Pyroscope.wrapWithLabels('a=b', () => 1), /labels must be a plain object/);
  assert.throws(() => Pyroscope.wrapWithLabels({ 'a b': 'c' }, () => 1), /invalid labels/);
  assert.throws(() => Pyroscope.setLabels({ k: 'x}' }), TypeError);
  assert.deepStrictEqual(Pyroscope.getLabels(), {});
  const r = Pyroscope.wrapWithLabels({ vehicle: 'bike' }, (x, y) => {
    assert.deepStrictEqual(Pyroscope.getLabels(), { vehicle: 'bike' });
    return Pyroscope.wrapWithLabels({ region: 'eu', vehicle: 'car' }, () => {
      assert.deepStrictEqual(Pyroscope.getLabels(), { region: 'eu', vehicle: 'car' });
      return x + y;
    });
  }, 2, 3);
  assert.strictEqual(r, 5);
  assert.deepStrictEqual(Pyroscope.getLabels(), {});
});

test('labels follow async context across awaits and timers', async () => {
  const seen = [];
  const req = (name) => Pyroscope.wrapWithLabels({ req: name }, async () => {
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1 + (i % 2)));
      seen.push([name, Pyroscope.getLabels().req]);
      await null;
      seen.push([name, Pyroscope.getLabels().req]);
    }
  });
  await Promise.all([req('one'), req('two'), req('three')]);
  assert.strictEqual(seen.length, 30);
  for (const [want, got] of seen) assert.strictEqual(got, want);
  assert.deepStrictEqual(Pyroscope.getLabels(), {});
});

test('setLabels replaces the labels of the current async context only', async () => {
  const other = Pyroscope.wrapWithLabels({ who: 'other' }, async () => {
    await new Promise((r) => setTimeout(r, 5));
    return Pyroscope.getLabels();
  });
  const mine = await Pyroscope.wrapWithLabels({ who: 'mine' }, async () => {
    Pyroscope.setLabels({ who: 'changed', extra: '1' });
    await new Promise((r) => setTimeout(r, 1));
    return Pyroscope.getLabels();
  });
  assert.deepStrictEqual(mine, { who: 'changed', extra: '1' });
  assert.deepStrictEqual(await other, { who: 'other' });
});

test('expressMiddleware labels the rest of the request', async () => {
  const mw = Pyroscope.expressMiddleware();
  const got = await new Promise((resolve) => {
    mw({ method: 'GET', url: '/cart?id=7' }, {}, async () => {
      await null;
      resolve(Pyroscope.getLabels());
    });
  });
  assert.deepStrictEqual(got, { http_method: 'GET', http_path: '/cart' });
  const custom = Pyroscope.expressMiddleware({ labels: (req) => ({ endpoint: req.url }) });
  custom({ url: '/x' }, {}, () => assert.deepStrictEqual(Pyroscope.getLabels(), { endpoint: '/x' }));
  assert.throws(() => Pyroscope.expressMiddleware(42), TypeError);
});

test('start/stop lifecycle in process', async () => {
  Pyroscope.init({ ...ok, serverAddress: 'http://127.0.0.1:9', stopTimeoutMs: 200, uploadTimeoutMs: 200, logLevel: 'none' });
  Pyroscope.start();
  assert.strictEqual(Pyroscope.isRunning(), true);
  Pyroscope.start(); // no-op while running
  assert.throws(() => Pyroscope.init(ok), /init\(\) while profiling/);
  await Pyroscope.stop();
  assert.strictEqual(Pyroscope.isRunning(), false);
  await Pyroscope.stop(); // no-op
});
