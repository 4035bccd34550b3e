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
  throwsWith({ ...ok, appName: 'my{app' }, TypeError, /appName .* must not contain/);
  throwsWith({ ...ok, serverAddress: 'localhost:4040' }, TypeError, /serverAddress must look like/);
  throwsWith({ ...ok, serverAddress: 4040 }, TypeError, /serverAddress must be a string/);
  throwsWith({ ...ok, sampleRate: 0 }, RangeError, /sampleRate must be an integer in \[1, 10000\], got 0/);
  throwsWith({ ...ok, sampleRate: 99.5 }, RangeError, /sampleRate/);
  throwsWith({ ...ok, sampleRate: '100' }, TypeError, /sampleRate must be a number/);
  throwsWith({ ...ok, flushIntervalMs: 5 }, RangeError, /flushIntervalMs/);
  throwsWith({ ...ok, flushIntervalMs: 1.5 }, RangeError, /flushIntervalMs/);
  throwsWith({ ...ok, tags: 'env=prod' }, TypeError, /tags must be an object/);
  throwsWith({ ...ok, tags: { env: { a: 1 } } }, TypeError, /tags.env must be a string or number/);
  throwsWith({ ...ok, tags: { 'bad key': 'x' } }, TypeError, /invalid tags "bad key"/);
  throwsWith({ ...ok, tags: { env: 'a,b' } }, TypeError, /invalid tags "env"="a,b"/);
  throwsWith({ ...ok, authToken: 7 }, TypeError, /authToken must be a string/);
  throwsWith({ ...ok, tenantID: {} }, TypeError, /tenantID must be a string/);
  throwsWith({ ...ok, wall: 3 }, TypeError, /options.wall must be an object/);
  throwsWith({ ...ok, wall: { samplingIntervalMicros: 1.5 } }, RangeError, /wall.samplingIntervalMicros/);
  throwsWith({ ...ok, heap: { samplingIntervalBytes: 'x' } }, TypeError, /heap.samplingIntervalBytes must be a number/);
  throwsWith({ ...ok, stripFilenames: 'some' }, TypeError, /stripFilenames must be 'all' or 'dependencies'/);
  throwsWith({ ...ok, shortenPaths: 'yes' }, TypeError, /shortenPaths must be a boolean/);
  throwsWith({ ...ok, sourceMapper: {} }, TypeError, /sourceMapper must be a SourceMapper/);
  throwsWith({ ...ok, httpHeaders: { 'X Bad': 'v' } }, TypeError, /invalid header name/);
  throwsWith({ ...ok, httpHeaders: { 'X-Ok': 'a\r\nb' } }, TypeError, /CR, LF/);
  throwsWith({ ...ok, logLevel: 'loud' }, TypeError, /logLevel must be one of/);
  throwsWith({ ...ok, sampelRate: 100 }, TypeError, /unknown option "sampelRate"/);
  // Good options pass: every field of @pyroscope/nodejs 0.6's PyroscopeConfig.
  Pyroscope.init({ ...ok, tags: { env: 'test', n: 1 }, authToken: 't', tenantID: 'x', flushIntervalMs: 5000,
    wall: { samplingDurationMs: 1000, samplingIntervalMicros: 5000, collectCpuTime: true },
    heap: { samplingIntervalBytes: 1024, stackDepth: 32 }, sourceMapper: new Pyroscope.SourceMapper(),
    basicAuthUser: 'u', basicAuthPassword: 'p', stripFilenames: 'dependencies', shortenPaths: true });
  // ... and this package's own.
  Pyroscope.init({ ...ok, sampleRate: 250, httpHeaders: { 'X-Extra': 'y' }, logLevel: 'error', cpu: false, api: 'push' });
  assert.strictEqual(Pyroscope.isRunning(), false);
});

test('empty strings and a missing appName are accepted, as by the official SDK', () => {
  // The official Express example passes process.env.X || ''.
  Pyroscope.init({ appName: '', serverAddress: 'http://127.0.0.1:1', basicAuthUser: '', basicAuthPassword: '',
    authToken: '', tenantID: '' });
  Pyroscope.init();
  Pyroscope.init({});
  Pyroscope.init({ basicAuthUser: 'only-user' });
});

test('exports: every export of @pyroscope/nodejs 0.6, CommonJS and ESM', async () => {
  const official = ['SourceMapper', 'expressMiddleware', 'fastifyMiddleware', 'init', 'getWallLabels',
    'setWallLabels', 'getLabels', 'setLabels', 'wrapWithLabels', 'start', 'startHeapProfiling',
    'startWallProfiling', 'startCpuProfiling', 'stop', 'stopHeapProfiling', 'stopWallProfiling',
    'stopCpuProfiling', 'setLogger'];
  for (const k of official) {
    assert.strictEqual(typeof Pyroscope[k], 'function', `require().${k}`);
    assert.strictEqual(typeof Pyroscope.default[k], 'function', `require().default.${k}`);
  }
  const esm = await import('pyroscope-nodejs-native');
  for (const k of official) assert.strictEqual(typeof esm.default[k], 'function', `import default.${k}`);
  for (const k of ['init', 'start', 'stop', 'wrapWithLabels', ...official]) {
    assert.strictEqual(typeof esm[k], 'function', `import { ${k} }`);
  }
  assert.strictEqual(esm.init, Pyroscope.init);
  assert.strictEqual(typeof Pyroscope.SourceMapper.create, 'function');
  const seen = [];
  Pyroscope.setLogger({ error: (m) => seen.push(m), warn: (m) => seen.push(m), info() {}, debug() {}, trace() {}, fatal() {} });
  assert.throws(() => Pyroscope.setLogger({}), /logger.error must be a function/);
  Pyroscope.setLogger(new Pyroscope.NullLogger());
});

test('wrapWithLabels: argument checks, return value, nesting', () => {
  assert.throws(() => Pyroscope.wrapWithLabels({ a: 'b' }, 'nope'), TypeError);
  assert.throws(() => Pyroscope.wrapWithLabels('a=b', () => 1), /labels must be an object/);
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

test('labelMiddleware labels the rest of the request', async () => {
  const mw = Pyroscope.labelMiddleware();
  const got = await new Promise((resolve) => {
    mw({ method: 'GET', url: '/cart?id=7' }, {}, async () => {
      await null;
      resolve(Pyroscope.getLabels());
    });
  });
  assert.deepStrictEqual(got, { http_method: 'GET', http_path: '/cart' });
  const custom = Pyroscope.labelMiddleware({ labels: (req) => ({ endpoint: req.url }) });
  custom({ url: '/x' }, {}, () => assert.deepStrictEqual(Pyroscope.getLabels(), { endpoint: '/x' }));
  assert.throws(() => Pyroscope.labelMiddleware(42), TypeError);
});

test('expressMiddleware serves pull-mode /debug/pprof/profile and /debug/pprof/heap', async () => {
  const { readProfile } = require('./pprof');
  const { fnName } = require('./helpers');
  Pyroscope.init({ appName: 'node.pull', serverAddress: 'http://127.0.0.1:9', logLevel: 'none', stopTimeoutMs: 200, uploadTimeoutMs: 200 });
  const mw = Pyroscope.expressMiddleware();
  const call = (path, query) => new Promise((resolve, reject) => {
    const res = {
      code: 0,
      status(c) { this.code = c; return this; },
      type() { return this; },
      send(b) { resolve({ code: this.code, body: b }); return this; },
      sendStatus(c) { reject(new Error(`status ${c}`)); return this; },
    };
    mw({ method: 'GET', path, query }, res, () => resolve(null));
  });
  assert.strictEqual(await call('/other', {}), null, 'other paths go to next()');
  function pullSpin() {
    let x = 0;
    const end = process.cpuUsage().user + 300000;
    while (process.cpuUsage().user < end) x += Math.sqrt(x + 1);
    return x;
  }
  const pending = call('/debug/pprof/profile', { seconds: '1' });
  setImmediate(pullSpin);
  const r = await pending;
  assert.strictEqual(r.code, 200);
  const prof = readProfile(r.body);
  assert.deepStrictEqual(prof.sampleTypes.map((t) => t.type), ['samples', 'wall']);
  const n = prof.samples.filter((s) => s.stack.some((f) => fnName(f) === 'pullSpin')).reduce((a, s) => a + s.values[0], 0);
  assert.ok(n >= 5, `pullSpin samples in the pulled profile: ${n}`);
  const keep = [];
  for (let i = 0; i < 5000; i++) keep.push(new Array(64).fill(i));
  const h = await call('/debug/pprof/heap', {});
  assert.strictEqual(h.code, 200);
  const hp = readProfile(h.body);
  assert.deepStrictEqual(hp.sampleTypes.map((t) => t.type), ['inuse_objects', 'inuse_space']);
  await Pyroscope.stop();
  assert.ok(keep.length > 0);
});

test('fastifyMiddleware registers the two pull-mode routes', async () => {
  const { readProfile } = require('./pprof');
  const routes = {};
  const fastify = { get: (p, h) => { routes[p] = h; } };
  let doneCalled = false;
  Pyroscope.fastifyMiddleware()(fastify, {}, () => { doneCalled = true; });
  assert.ok(doneCalled);
  assert.deepStrictEqual(Object.keys(routes).sort(), ['/debug/pprof/heap', '/debug/pprof/profile']);
  const reply = () => {
    const r = { code: 0, ctype: '', body: null };
    r.status = (c) => { r.code = c; return r; };
    r.type = (t) => { r.ctype = t; return r; };
    r.send = (b) => { r.body = b; return r; };
    return r;
  };
  const r = reply();
  await routes['/debug/pprof/profile']({ query: { seconds: '0' } }, r);
  assert.strictEqual(r.code, 200);
  assert.strictEqual(r.ctype, 'application/octet-stream');
  assert.deepStrictEqual(readProfile(r.body).sampleTypes.map((t) => t.type), ['samples', 'wall']);
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
