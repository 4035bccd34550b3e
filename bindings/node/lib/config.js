'use strict';
// init() options: validated like @pyroscope/nodejs 0.6 (same fields, same
// defaults, same environment variables), plus this package's extensions.
const LOG_LEVELS = { none: 0, error: 1, warn: 2, info: 3, debug: 4 };
const MAX_SAMPLE_RATE = 10000;
const MAX_TAGS = 64;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// @pyroscope/nodejs 0.6.4 defaults (dist/cjs/profilers/pyroscope-profiler.js).
const DEFAULTS = {
  flushIntervalMs: 60000,
  wallSamplingDurationMs: 60000,
  wallSamplingIntervalMicros: 10000,
  heapSamplingIntervalBytes: 512 * 1024,
  heapStackDepth: 64,
  serverAddress: 'http://localhost:4040',
};

const OFFICIAL_OPTIONS = ['appName', 'authToken', 'flushIntervalMs', 'heap', 'serverAddress', 'tags',
  'wall', 'sourceMapper', 'basicAuthUser', 'basicAuthPassword', 'tenantID', 'stripFilenames', 'shortenPaths'];
const OWN_OPTIONS = ['applicationName', 'sampleRate', 'httpHeaders', 'uploadIntervalMs', 'logLevel',
  'stopTimeoutMs', 'uploadTimeoutMs', 'collectIntervalMs', 'nativeThreads', 'flushOnExit', 'cpu',
  'api', 'workers'];
const KNOWN_OPTIONS = new Set([...OFFICIAL_OPTIONS, ...OWN_OPTIONS]);

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
function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Official env parsing: numbers with Number(), booleans 'true'/'1'.
function envNumber(name) {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : Number(v);
}
function envBool(name) {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v === 'true' || v === '1';
}
function envString(name) {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

// An empty string means "not set", as the official SDK treats
// basicAuthUser: process.env.X || ''.
function optString(o, key) {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    throw typeError('ERR_INVALID_ARG_TYPE', `options.${key} must be a string, got ${describe(v)}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.${key} must not contain control characters`);
  }
  return v;
}

function checkInt(v, what, min, max) {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `${what} must be a number, got ${describe(v)}`);
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    throw rangeError(`${what} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

function optBool(o, key, what = `options.${key}`) {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    throw typeError('ERR_INVALID_ARG_TYPE', `${what} must be a boolean, got ${describe(v)}`);
  }
  return v;
}

// {k: v} -> [[k, v], ...] checked by the core's rules (check(k, v) -> null | message).
function labelPairs(obj, what, check) {
  if (!isObject(obj)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `${what} must be an object of string or number values, got ${describe(obj)}`);
  }
  const pairs = [];
  for (const key of Object.keys(obj)) {
    let value = obj[key];
    if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
    if (typeof value !== 'string') {
      throw typeError('ERR_INVALID_ARG_TYPE', `${what}.${key} must be a string or number, got ${describe(value)}`);
    }
    const problem = check(key, value);
    if (problem !== null) {
      throw typeError('ERR_INVALID_ARG_VALUE', `invalid ${what} ${JSON.stringify(key)}=${JSON.stringify(value)}: ${problem}`);
    }
    pairs.push([key, value]);
  }
  return pairs;
}

function normalizeConfig(opts, check) {
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `init(options): options must be an object, got ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw typeError('ERR_INVALID_ARG_VALUE', `unknown option ${JSON.stringify(key)} (known: ${[...KNOWN_OPTIONS].join(', ')})`);
    }
  }
  const cfg = {};
  cfg.appName = optString(opts, 'appName') || optString(opts, 'applicationName') ||
    envString('PYROSCOPE_APPLICATION_NAME');
  if (cfg.appName !== undefined && /[{},=]/.test(cfg.appName)) {
    throw typeError('ERR_INVALID_ARG_VALUE', `appName ${JSON.stringify(cfg.appName)} must not contain '{', '}', ',', or '=' characters`);
  }
  // PYROSCOPE_ADHOC_SERVER_ADDRESS wins over the option, as in the official SDK.
  cfg.serverAddress = envString('PYROSCOPE_ADHOC_SERVER_ADDRESS') || optString(opts, 'serverAddress') ||
    envString('PYROSCOPE_SERVER_ADDRESS') || DEFAULTS.serverAddress;
  if (!/^(https?:\/\/[^\s/]+|file:\/\/\S+)/.test(cfg.serverAddress)) {
    throw typeError('ERR_INVALID_ARG_VALUE',
      `serverAddress must look like http(s)://host[:port] or file:///dir, got ${JSON.stringify(cfg.serverAddress)}`);
  }
  cfg.serverAddress = cfg.serverAddress.replace(/\/+$/, '');
  cfg.authToken = optString(opts, 'authToken') || envString('PYROSCOPE_AUTH_TOKEN');
  cfg.basicAuthUser = optString(opts, 'basicAuthUser');
  cfg.basicAuthPassword = optString(opts, 'basicAuthPassword');
  // The official SDK sends basic auth only when both are set.
  if (cfg.basicAuthUser === undefined || cfg.basicAuthPassword === undefined) {
    cfg.basicAuthUser = undefined;
    cfg.basicAuthPassword = undefined;
  }
  if (cfg.authToken !== undefined) { // a token wins, as in the official SDK
    cfg.basicAuthUser = undefined;
    cfg.basicAuthPassword = undefined;
  }
  cfg.tenantID = optString(opts, 'tenantID');

  let flush = opts.flushIntervalMs ?? opts.uploadIntervalMs ?? envNumber('PYROSCOPE_FLUSH_INTERVAL_MS');
  flush = checkInt(flush, 'flushIntervalMs', 100, 86400000);
  cfg.flushIntervalMs = flush ?? DEFAULTS.flushIntervalMs;

  const wall = opts.wall ?? {};
  if (!isObject(wall)) throw typeError('ERR_INVALID_ARG_TYPE', `options.wall must be an object, got ${describe(wall)}`);
  const heap = opts.heap ?? {};
  if (!isObject(heap)) throw typeError('ERR_INVALID_ARG_TYPE', `options.heap must be an object, got ${describe(heap)}`);
  cfg.wallSamplingDurationMs = checkInt(wall.samplingDurationMs ?? envNumber('PYROSCOPE_WALL_SAMPLING_DURATION_MS'),
    'wall.samplingDurationMs', 1, 86400000) ?? DEFAULTS.wallSamplingDurationMs;
  let interval = checkInt(wall.samplingIntervalMicros ?? envNumber('PYROSCOPE_WALL_SAMPLING_INTERVAL_MICROS'),
    'wall.samplingIntervalMicros', 100, 1000000);
  const rate = checkInt(opts.sampleRate, 'options.sampleRate', 1, MAX_SAMPLE_RATE);
  if (interval === undefined) interval = rate !== undefined ? Math.round(1e6 / rate) : DEFAULTS.wallSamplingIntervalMicros;
  cfg.samplingIntervalMicros = interval;
  cfg.sampleRate = Math.max(1, Math.min(MAX_SAMPLE_RATE, Math.round(1e6 / interval)));
  cfg.collectCpuTime = optBool(wall, 'collectCpuTime', 'wall.collectCpuTime') ?? envBool('PYROSCOPE_WALL_COLLECT_CPU_TIME') ?? false;
  cfg.heapSamplingIntervalBytes = checkInt(heap.samplingIntervalBytes ?? envNumber('PYROSCOPE_HEAP_SAMPLING_INTERVAL_BYTES'),
    'heap.samplingIntervalBytes', 1, 2 ** 31) ?? DEFAULTS.heapSamplingIntervalBytes;
  cfg.heapStackDepth = checkInt(heap.stackDepth ?? envNumber('PYROSCOPE_HEAP_STACK_DEPTH'),
    'heap.stackDepth', 1, 1024) ?? DEFAULTS.heapStackDepth;

  const strip = opts.stripFilenames ?? envString('PYROSCOPE_STRIP_FILENAMES');
  if (strip !== undefined && strip !== 'all' && strip !== 'dependencies') {
    if (opts.stripFilenames !== undefined) {
      throw typeError('ERR_INVALID_ARG_VALUE', `options.stripFilenames must be 'all' or 'dependencies', got ${describe(strip)}`);
    }
  }
  cfg.stripFilenames = strip === 'all' || strip === 'dependencies' ? strip : '';
  cfg.shortenPaths = optBool(opts, 'shortenPaths') ?? envBool('PYROSCOPE_SHORTEN_PATHS') ?? false;

  if (opts.sourceMapper !== undefined && opts.sourceMapper !== null &&
      (typeof opts.sourceMapper !== 'object' || typeof opts.sourceMapper.mappingInfo !== 'function')) {
    throw typeError('ERR_INVALID_ARG_TYPE', 'options.sourceMapper must be a SourceMapper (with mappingInfo())');
  }
  cfg.sourceMapper = opts.sourceMapper || undefined;

  cfg.tags = [];
  if (opts.tags !== undefined && opts.tags !== null) {
    const pairs = labelPairs(opts.tags, 'tags', check);
    if (pairs.length > MAX_TAGS) throw rangeError(`options.tags has ${pairs.length} tags, at most ${MAX_TAGS} allowed`);
    for (const [k, v] of pairs) cfg.tags.push(k, v);
  }
  cfg.httpHeaders = [];
  if (opts.httpHeaders !== undefined && opts.httpHeaders !== null) {
    if (!isObject(opts.httpHeaders)) {
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
    cfg.logLevel = checkInt(level, 'options.logLevel', 0, 4);
  } else {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.logLevel must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got ${describe(level)}`);
  }
  cfg.collectIntervalMs = checkInt(opts.collectIntervalMs, 'options.collectIntervalMs', 10, 3600000);
  cfg.stopTimeoutMs = checkInt(opts.stopTimeoutMs, 'options.stopTimeoutMs', 0, 600000);
  cfg.uploadTimeoutMs = checkInt(opts.uploadTimeoutMs, 'options.uploadTimeoutMs', 1, 600000);
  cfg.nativeThreads = optBool(opts, 'nativeThreads') || false;
  cfg.flushOnExit = optBool(opts, 'flushOnExit') ?? true;
  cfg.cpu = optBool(opts, 'cpu') ?? true;
  cfg.workers = optBool(opts, 'workers') ?? true;
  const api = opts.api ?? envString('PYROSCOPE_API');
  if (api !== undefined && api !== 'ingest' && api !== 'push') {
    throw typeError('ERR_INVALID_ARG_VALUE', `options.api must be 'ingest' or 'push', got ${describe(api)}`);
  }
  cfg.api = api === 'push' ? 1 : 0;
  return cfg;
}

module.exports = { normalizeConfig, labelPairs, DEFAULTS, typeError, rangeError, describe, isObject };
