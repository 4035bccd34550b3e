'use strict';
// Pyroscope for Node.js on top of the pyroscope C core.
//
// The surface follows @pyroscope/nodejs: init(config), start(), stop(),
// wrapWithLabels(labels, fn, ...args), setLabels / getLabels and an
// Express-style middleware.  CPU samples come from V8's CpuProfiler (JS
// function, file, line); labels follow the async context (AsyncLocalStorage).

const { AsyncLocalStorage, createHook } = require('async_hooks');
const path = require('path');

function loadNative() {
  const candidates = [
    path.join(__dirname, '..', 'build', 'Release', 'pyroscope.node'),
    path.join(__dirname, '..', 'build', 'Debug', 'pyroscope.node'),
  ];
  let lastErr;
  for (const file of candidates) {
    try {
      return require(file);
    } catch (err) {
      lastErr = err;
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  const e = new Error('pyroscope: native addon not built; run `npm install` in ' +
    path.join(__dirname, '..') + ` (${lastErr && lastErr.message})`);
  e.code = 'ERR_PYROSCOPE_NOT_BUILT';
  throw e;
}

const native = loadNative();

// V8 11 (Node 20) loses the inlined frames of code compiled by on-stack
// replacement: a sample in an OSR'd loop (e.g. node's processImmediate or
// listOnTimeout with a callback inlined into it) is attributed to the loop's
// function only.  Disabling OSR as early as possible avoids that; loops then
// run in baseline code until their function is optimized on a later call.
// PYROSCOPE_KEEP_OSR=1 keeps V8's default.
if (!process.env.PYROSCOPE_KEEP_OSR) {
  require('v8').setFlagsFromString('--no-use-osr');
}

// ------------------------------------------------------------ errors

function typeError(code, msg) {
  const e = new TypeError(`pyroscope: ${msg}`);
  e.code = code;
  return e;
}
function rangeError(msg) {
  const e = new RangeError(`pyroscope: ${msg}`);
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}
function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
function isPlainObject(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// ------------------------------------------------------------ config

const LOG_LEVELS = { none: 0, error: 1, warn: 2, info: 3, debug: 4 };
const MAX_SAMPLE_RATE = 10000;
const MAX_TAGS = 64;

// Options of @pyroscope/nodejs that this binding accepts but does not use.
const IGNORED_OPTIONS = new Set(['sourceMapper', 'heap', 'wall']);
const KNOWN_OPTIONS = new Set([
  'appName', 'applicationName', 'serverAddress', 'tags', 'sampleRate',
  'authToken', 'basicAuthUser', 'basicAuthPassword', 'tenantID', 'httpHeaders',
  'flushIntervalMs', 'uploadIntervalMs', 'logLevel', 'stopTimeoutMs',
  'uploadTimeoutMs', 'collectIntervalMs', 'nativeThreads', 'flushOnExit',
  ...IGNORED_OPTIONS,
]);

function optString(o, key, { required = false, nonEmpty = true } = {}) {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw typeError('ERR_INVALID_ARG_TYPE', `options.${key} is required (a string)`);
    return undefined;
  }
  if (typeof v !== 'string') {
    throw typeError('ERR_INVALID_ARG_TYPE', `options.${key} must be a string, got ${describe(v)}`);
  }
  if (nonEmpty && v.length === 0) {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.${key} must not be empty`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.${key} must not contain control characters`);
  }
  return v;
}

function optInt(o, key, min, max) {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `options.${key} must be a number, got ${describe(v)}`);
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    throw rangeError(`options.${key} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

function optBool(o, key) {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    throw typeError('ERR_INVALID_ARG_TYPE', `options.${key} must be a boolean, got ${describe(v)}`);
  }
  return v;
}

// {k: v} of tags/labels -> [[k, v], ...] validated by the core's rules.
function labelPairs(obj, what) {
  if (!isPlainObject(obj)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `${what} must be a plain object of string values, got ${describe(obj)}`);
  }
  const pairs = [];
  for (const key of Object.keys(obj)) {
    let value = obj[key];
    if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
    if (typeof value !== 'string') {
      throw typeError('ERR_INVALID_ARG_TYPE', `${what}.${key} must be a string, got ${describe(value)}`);
    }
    const problem = native.tagCheck(key, value);
    if (problem !== null) {
      throw typeError('ERR_INVALID_ARG_VALUE', `invalid ${what} ${JSON.stringify(key)}=${JSON.stringify(value)}: ${problem}`);
    }
    pairs.push([key, value]);
  }
  return pairs;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function normalizeConfig(opts) {
  if (opts === undefined) opts = {};
  if (!isPlainObject(opts)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `init(options): options must be an object, got ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw typeError('ERR_INVALID_ARG_VALUE', `unknown option ${JSON.stringify(key)} (known: ${[...KNOWN_OPTIONS].join(', ')})`);
    }
  }
  const cfg = {};
  cfg.appName = optString(opts, 'appName') || optString(opts, 'applicationName');
  if (cfg.appName === undefined && !process.env.PYROSCOPE_APPLICATION_NAME) {
    throw typeError('ERR_INVALID_ARG_TYPE', 'options.appName is required (or set PYROSCOPE_APPLICATION_NAME)');
  }
  if (cfg.appName !== undefined && /[{}\s,=]/.test(cfg.appName)) {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.appName ${JSON.stringify(cfg.appName)} must not contain spaces or { } , =`);
  }
  cfg.serverAddress = optString(opts, 'serverAddress');
  if (cfg.serverAddress !== undefined && !/^(https?:\/\/[^\s/]+|file:\/\/\S+)/.test(cfg.serverAddress)) {
    throw typeError('ERR_INVALID_ARG_VALUE',
      `options.serverAddress must look like http(s)://host[:port] or file:///dir, got ${JSON.stringify(cfg.serverAddress)}`);
  }
  cfg.sampleRate = optInt(opts, 'sampleRate', 1, MAX_SAMPLE_RATE) || 100;
  const upload = optInt(opts, 'uploadIntervalMs', 100, 3600000);
  const flush = optInt(opts, 'flushIntervalMs', 100, 3600000);
  cfg.uploadIntervalMs = upload !== undefined ? upload : flush;
  cfg.collectIntervalMs = optInt(opts, 'collectIntervalMs', 10, 3600000);
  cfg.stopTimeoutMs = optInt(opts, 'stopTimeoutMs', 0, 600000);
  cfg.uploadTimeoutMs = optInt(opts, 'uploadTimeoutMs', 1, 600000);
  cfg.authToken = optString(opts, 'authToken');
  cfg.basicAuthUser = optString(opts, 'basicAuthUser');
  cfg.basicAuthPassword = optString(opts, 'basicAuthPassword');
  if ((cfg.basicAuthUser === undefined) !== (cfg.basicAuthPassword === undefined)) {
    throw typeError('ERR_INVALID_ARG_VALUE', 'options.basicAuthUser and options.basicAuthPassword go together');
  }
  if (cfg.authToken !== undefined && cfg.basicAuthUser !== undefined) {
    throw typeError('ERR_INVALID_ARG_VALUE', 'use either options.authToken or basic auth, not both');
  }
  cfg.tenantID = optString(opts, 'tenantID');
  cfg.tags = [];
  if (opts.tags !== undefined && opts.tags !== null) {
    const pairs = labelPairs(opts.tags, 'tags');
    if (pairs.length > MAX_TAGS) throw rangeError(`options.tags has ${pairs.length} tags, at most ${MAX_TAGS} allowed`);
    for (const [k, v] of pairs) cfg.tags.push(k, v);
  }
  cfg.httpHeaders = [];
  if (opts.httpHeaders !== undefined && opts.httpHeaders !== null) {
    if (!isPlainObject(opts.httpHeaders)) {
      throw typeError('ERR_INVALID_ARG_TYPE', `options.httpHeaders must be an object of strings, got ${describe(opts.httpHeaders)}`);
    }
    for (const [k, v] of Object.entries(opts.httpHeaders)) {
      if (!HEADER_NAME.test(k)) throw typeError('ERR_INVALID_ARG_VALUE', `options.httpHeaders: invalid header name ${JSON.stringify(k)}`);
      if (typeof v !== 'string') throw typeError('ERR_INVALID_ARG_TYPE', `options.httpHeaders.${k} must be a string, got ${describe(v)}`);
      if (/[\r\n\0]/.test(v)) throw typeError('ERR_INVALID_ARG_VALUE', `options.httpHeaders.${k} must not contain CR, LF or NUL`);
      cfg.httpHeaders.push(k, v);
    }
  }
  const level = opts.logLevel;
  if (level === undefined || level === null) {
    cfg.logLevel = -1;
  } else if (typeof level === 'string' && Object.prototype.hasOwnProperty.call(LOG_LEVELS, level)) {
    cfg.logLevel = LOG_LEVELS[level];
  } else if (typeof level === 'number') {
    cfg.logLevel = optInt(opts, 'logLevel', 0, 4);
  } else {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.logLevel must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got ${describe(level)}`);
  }
  cfg.nativeThreads = optBool(opts, 'nativeThreads') || false;
  cfg.flushOnExit = optBool(opts, 'flushOnExit');
  if (cfg.flushOnExit === undefined) cfg.flushOnExit = true;
  if (opts.sourceMapper !== undefined) {
    process.emitWarning('pyroscope: options.sourceMapper is not supported by this binding and is ignored');
  }
  return cfg;
}

// ------------------------------------------------------------ labels

// The id of the label set active in the running async context, read by the
// native SIGPROF hook at every V8 sample.
const labelCell = new Int32Array(2);
const als = new AsyncLocalStorage();
const EMPTY_SET = Object.freeze({ id: 0, labels: Object.freeze({}) });
const labelSets = new Map(); // canonical key -> { id, labels }
const MAX_LABEL_SETS = 10000;
let labelSetsFull = false;
let hook = null;
const cellStack = [];

function ensureHook() {
  if (hook !== null) return;
  hook = createHook({
    before() {
      if (cellStack.length > 4096) cellStack.length = 0; // unbalanced; recover
      cellStack.push(labelCell[0]);
      const s = als.getStore();
      labelCell[0] = s === undefined ? 0 : s.id;
    },
    after() {
      labelCell[0] = cellStack.length > 0 ? cellStack.pop() : 0;
    },
  });
  hook.enable();
}

function internSet(pairs) {
  const kept = pairs.filter(([, v]) => v !== '').sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (kept.length === 0) return EMPTY_SET;
  const key = kept.map(([k, v]) => `${k}\u0000${v}`).join('\u0001');
  let set = labelSets.get(key);
  if (set !== undefined) return set;
  if (labelSets.size >= MAX_LABEL_SETS) {
    if (!labelSetsFull) {
      labelSetsFull = true;
      process.emitWarning(`pyroscope: more than ${MAX_LABEL_SETS} distinct label sets; further new sets are not recorded (labels with unbounded values?)`);
    }
    return null;
  }
  const flat = [];
  const labels = {};
  for (const [k, v] of kept) {
    flat.push(k, v);
    labels[k] = v;
  }
  set = Object.freeze({ id: native.registerLabelSet(flat), labels: Object.freeze(labels) });
  labelSets.set(key, set);
  return set;
}

function currentSet() {
  const s = als.getStore();
  return s === undefined ? EMPTY_SET : s;
}

/**
 * Run fn(...args) with `labels` added to the current labels.  The labels stay
 * on all work started from fn, across awaits, timers and callbacks.
 */
function wrapWithLabels(labels, fn, ...args) {
  if (typeof fn !== 'function') {
    throw typeError('ERR_INVALID_ARG_TYPE', `wrapWithLabels(labels, fn): fn must be a function, got ${describe(fn)}`);
  }
  const pairs = labelPairs(labels, 'labels');
  const merged = new Map(Object.entries(currentSet().labels));
  for (const [k, v] of pairs) merged.set(k, v);
  const set = internSet([...merged]);
  if (set === null) return fn(...args);
  ensureHook();
  const prev = labelCell[0];
  labelCell[0] = set.id;
  try {
    return als.run(set, fn, ...args);
  } finally {
    labelCell[0] = prev;
  }
}

/** Replace the labels of the current async context (and what it starts). */
function setLabels(labels) {
  const set = internSet(labelPairs(labels, 'labels'));
  if (set === null) return;
  ensureHook();
  als.enterWith(set);
  labelCell[0] = set.id;
}

/** The labels of the current async context, as a fresh object. */
function getLabels() {
  return { ...currentSet().labels };
}

/**
 * Express/Connect-style middleware: runs the rest of the request with labels.
 * middleware(options) where options is a function req => labels, or
 * { labels: req => labels }.  Default labels: { http_method, http_path }.
 */
function expressMiddleware(options = {}) {
  let labelsOf;
  if (typeof options === 'function') labelsOf = options;
  else if (isPlainObject(options) && (options.labels === undefined || typeof options.labels === 'function')) {
    labelsOf = options.labels || ((req) => ({
      http_method: req.method,
      http_path: String(req.originalUrl || req.url || '').split('?')[0] || '/',
    }));
  } else {
    throw typeError('ERR_INVALID_ARG_TYPE', 'expressMiddleware(options): options must be a function or { labels: function }');
  }
  return function pyroscopeMiddleware(req, res, next) {
    let labels;
    try {
      labels = labelsOf(req, res);
      for (const k of Object.keys(labels || {})) {
        if (labels[k] === undefined || labels[k] === null) delete labels[k];
        else if (typeof labels[k] === 'string') labels[k] = labels[k].replace(/[{},=\u0000-\u001f]/g, '_').slice(0, 200);
      }
      return wrapWithLabels(labels || {}, next);
    } catch (err) {
      if (labels === undefined || (err && err.code && String(err.code).startsWith('ERR_INVALID_ARG'))) {
        return next();
      }
      throw err;
    }
  };
}

// ------------------------------------------------------------ lifecycle

let config = null;
let running = false;
let stopping = null; // Promise while a stop is in flight
let timer = null;
let exitHandler = null;

/** Validate and remember the configuration; start() begins profiling. */
function init(options) {
  const cfg = normalizeConfig(options);
  if (running) {
    throw Object.assign(new Error('pyroscope: init() while profiling; call stop() first'), { code: 'ERR_PYROSCOPE_RUNNING' });
  }
  config = cfg;
}

function start() {
  if (running) return;
  if (stopping) {
    throw Object.assign(new Error('pyroscope: start() while stop() is still in progress; await stop() first'), { code: 'ERR_PYROSCOPE_STOPPING' });
  }
  if (!require('worker_threads').isMainThread) {
    throw Object.assign(new Error('pyroscope: start() must be called on the main thread (worker threads are not profiled)'), { code: 'ERR_PYROSCOPE_THREAD' });
  }
  if (config === null) config = normalizeConfig({});
  native.start({ ...config, labelCell });
  running = true;
  const every = config.collectIntervalMs || Math.min(config.uploadIntervalMs || 10000, 2000);
  timer = setInterval(() => native.collect(), every);
  timer.unref();
  if (config.flushOnExit && exitHandler === null) {
    exitHandler = () => {
      if (running) {
        running = false;
        clearInterval(timer);
        native.stopSync();
      }
    };
    process.on('exit', exitHandler);
  }
}

/** Stop profiling and upload the last window.  Resolves when done. */
function stop() {
  if (!running) return stopping || Promise.resolve();
  running = false;
  clearInterval(timer);
  timer = null;
  if (exitHandler !== null) {
    process.removeListener('exit', exitHandler);
    exitHandler = null;
  }
  stopping = native.stop().then(() => { stopping = null; });
  return stopping;
}

/** Upload what was collected so far; resolves to true when delivered. */
function flush(timeoutMs = 5000) {
  if (!running) return Promise.resolve(false);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw rangeError(`flush(timeoutMs): a non-negative integer, got ${timeoutMs}`);
  return native.flush(timeoutMs);
}

function isRunning() {
  return running;
}

function stats() {
  return native.stats();
}

// Heap profiling is not implemented: these keep code written for
// @pyroscope/nodejs working.
let heapWarned = false;
function startHeapProfiling() {
  if (!heapWarned) {
    heapWarned = true;
    process.emitWarning('pyroscope: heap profiling is not supported by this binding yet; startHeapProfiling() does nothing');
  }
}
async function stopHeapProfiling() {}

const Pyroscope = {
  init,
  start,
  stop,
  flush,
  startCpuProfiling: start,
  stopCpuProfiling: stop,
  startWallProfiling: start,
  stopWallProfiling: stop,
  startHeapProfiling,
  stopHeapProfiling,
  getWallLabels: getLabels,
  setWallLabels: setLabels,
  isRunning,
  wrapWithLabels,
  setLabels,
  getLabels,
  expressMiddleware,
  stats,
  version: native.version(),
};
Pyroscope.default = Pyroscope;
module.exports = Pyroscope;
