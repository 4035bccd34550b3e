'use strict';
// Pyroscope for Node.js on top of the pyroscope C core.
//
// The surface is @pyroscope/nodejs 0.6's: init(config), start(), stop(),
// wrapWithLabels, setLabels / getLabels, start/stop Wall/Cpu/Heap
// profiling, expressMiddleware / fastifyMiddleware (pull mode),
// SourceMapper and setLogger, with the same options, defaults and
// environment variables.  Wall and CPU samples come from V8's CpuProfiler
// (JS function, file, line), heap samples from V8's sampling heap
// profiler; labels follow the async context (AsyncLocalStorage).
const path = require('path');
const workerThreads = require('worker_threads');
const { normalizeConfig, rangeError } = require('./config');
const { createLabels } = require('./labels');
const { createMiddleware } = require('./middleware');
const { SourceMapper } = require('./sourcemapper');
const { logger, setLogger, NullLogger } = require('./logger');

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
  const e = new Error('pyroscope: native addon not built; run `npm rebuild` in ' +
    path.join(__dirname, '..') + ` (${lastErr && lastErr.message})`);
  e.code = 'ERR_PYROSCOPE_NOT_BUILT';
  throw e;
}

const native = loadNative();
const VERSION = require('../package.json').version;

// V8 11 (Node 20) loses the inlined frames of code compiled by on-stack
// replacement: a sample in an OSR'd loop (e.g. node's processImmediate or
// listOnTimeout with a callback inlined into it) is attributed to the loop's
// function only.  Disabling OSR as early as possible avoids that; loops then
// run in baseline code until their function is optimized on a later call.
// PYROSCOPE_KEEP_OSR=1 keeps V8's default.
if (!process.env.PYROSCOPE_KEEP_OSR) {
  require('v8').setFlagsFromString('--no-use-osr');
}

const labels = createLabels(native, logger);
const { wrapWithLabels, setLabels, getLabels } = labels;

// ------------------------------------------------------------ lifecycle

let config = null;
let coreRunning = false;
let wallRunning = false;
let heapRunning = false;
let stopping = null; // Promise while a stop is in flight
let collectTimer = null;
let flushTimer = null;
let exitHandler = null;
let attached = false; // a worker profiled into the main thread's profiler

function currentConfig() {
  if (config === null) config = normalizeConfig({}, labels.check);
  return config;
}

// The series labels @pyroscope/nodejs adds to every profile (user tags win).
function seriesTags(cfg) {
  const own = {
    'otel.scope.name': 'com.grafana.pyroscope/nodejs',
    'otel.scope.version': VERSION,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  };
  const user = new Set();
  for (let i = 0; i < cfg.tags.length; i += 2) user.add(cfg.tags[i]);
  const out = [];
  for (const [k, v] of Object.entries(own)) if (!user.has(k)) out.push(k, v);
  return out.concat(cfg.tags);
}

function installMapper(cfg) {
  if (!cfg.sourceMapper) return;
  const sm = cfg.sourceMapper;
  native.setMapper((file, line, column, name) => {
    const loc = sm.mappingInfo({ file, line, column, name });
    if (!loc || (loc.file === file && loc.line === line)) return null;
    return [loc.file || file, loc.line || line, loc.name || name];
  });
}

function startCore(wall, heap) {
  if (stopping) {
    throw Object.assign(new Error('pyroscope: start while stop() is still in progress; await stop() first'), { code: 'ERR_PYROSCOPE_STOPPING' });
  }
  const cfg = currentConfig();
  let appName = cfg.appName;
  if (appName === undefined) {
    appName = 'nodejs';
    logger.warn('pyroscope: no appName (or PYROSCOPE_APPLICATION_NAME); profiles go to service "nodejs"');
  }
  native.start({
    ...cfg,
    appName,
    tags: seriesTags(cfg),
    // JS closes the windows (see flushTimer); the core's own timer is a
    // backstop for an event loop that is blocked for a long time.
    uploadIntervalMs: cfg.flushIntervalMs * 4,
    wall: true,
    cpu: cfg.cpu,
    heap: true,
    startCpu: wall,
    startHeap: heap,
    cwd: process.cwd(),
    labelCell: labels.labelCell,
  });
  coreRunning = true;
  installMapper(cfg);
  const every = cfg.collectIntervalMs || Math.min(cfg.flushIntervalMs, 2000);
  collectTimer = setInterval(() => native.collect(), every);
  collectTimer.unref();
  flushTimer = setInterval(() => {
    native.flush(0, heapRunning).catch(() => {});
  }, cfg.flushIntervalMs);
  flushTimer.unref();
  if (cfg.flushOnExit && exitHandler === null) {
    exitHandler = () => {
      if (coreRunning) {
        coreRunning = false;
        clearTimers();
        native.stopSync();
      }
    };
    process.on('exit', exitHandler);
  }
}

function clearTimers() {
  clearInterval(collectTimer);
  clearInterval(flushTimer);
  collectTimer = null;
  flushTimer = null;
}

function stopCore() {
  coreRunning = false;
  clearTimers();
  if (exitHandler !== null) {
    process.removeListener('exit', exitHandler);
    exitHandler = null;
  }
  stopping = native.stop().then(() => { stopping = null; });
  return stopping;
}

/** Validate and remember the configuration; start() begins profiling. */
function init(options = {}) {
  const cfg = normalizeConfig(options, labels.check);
  if (coreRunning) {
    throw Object.assign(new Error('pyroscope: init() while profiling; call stop() first'), { code: 'ERR_PYROSCOPE_RUNNING' });
  }
  config = cfg;
}

function startWallProfiling() {
  if (!workerThreads.isMainThread) return attachWorker();
  if (wallRunning) return;
  if (coreRunning) native.startCpu();
  else startCore(true, false);
  wallRunning = true;
}

function startHeapProfiling() {
  if (!workerThreads.isMainThread) return attachWorker();
  if (heapRunning) return;
  if (coreRunning) native.startHeap();
  else startCore(false, true);
  heapRunning = true;
}

async function stopWallProfiling() {
  if (!workerThreads.isMainThread) return detachWorker();
  if (!wallRunning) return stopping || undefined;
  wallRunning = false;
  if (!heapRunning) return stopCore();
  native.stopCpu();
}

async function stopHeapProfiling() {
  if (!workerThreads.isMainThread) return detachWorker();
  if (!heapRunning) return stopping || undefined;
  heapRunning = false;
  if (!wallRunning) return stopCore();
  native.stopHeap();
}

/** Start wall (and CPU) and heap profiling. */
function start() {
  if (!workerThreads.isMainThread) return attachWorker();
  if (coreRunning && wallRunning && heapRunning) return;
  if (!coreRunning) {
    startCore(true, true);
    wallRunning = true;
    heapRunning = true;
    return;
  }
  startWallProfiling();
  startHeapProfiling();
}

/** Stop profiling and upload the last window.  Resolves when done. */
async function stop() {
  if (!workerThreads.isMainThread) return detachWorker();
  if (!coreRunning) return stopping || undefined;
  wallRunning = false;
  heapRunning = false;
  return stopCore();
}

/** Upload what was collected so far; resolves to true when delivered. */
function flush(timeoutMs = 5000) {
  if (!coreRunning) return Promise.resolve(false);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw rangeError(`flush(timeoutMs): a non-negative integer, got ${timeoutMs}`);
  return native.flush(timeoutMs, heapRunning);
}

// ------------------------------------------------------------ workers

// In a worker: profile this isolate into the main thread's profiler.
let workerTimer = null;
function attachWorker() {
  if (attached) return;
  if (!native.attach(labels.labelCell, workerThreads.threadId)) return;
  attached = true;
  workerTimer = setInterval(() => native.collect(), 1000);
  workerTimer.unref();
}

function detachWorker() {
  if (!attached) return;
  attached = false;
  clearInterval(workerTimer);
  native.detach();
}

// Workers started while profiling load this package first (execArgv
// --require), so that their JavaScript is profiled too.  The patch is made
// when this package is loaded: code that took worker_threads.Worker before
// that gets the original class (its workers can call start() themselves).
let workersPatched = false;
function patchWorkers() {
  if (workersPatched) return;
  workersPatched = true;
  const Original = workerThreads.Worker;
  const self = path.join(__dirname, 'worker-attach.js');
  class Worker extends Original {
    constructor(filename, options = {}) {
      if (coreRunning && wallRunning && config && config.workers && options && options.execArgv === undefined) {
        options = { ...options, execArgv: [...process.execArgv, '--require', self] };
      }
      super(filename, options);
    }
  }
  workerThreads.Worker = Worker;
}

// ------------------------------------------------------------ exports

function isRunning() {
  return coreRunning;
}

function stats() {
  return native.stats();
}

if (workerThreads.isMainThread && process.env.PYROSCOPE_WORKERS !== '0') patchWorkers();

const mw = createMiddleware(native, {
  wrapWithLabels,
  logger,
  samplingIntervalMicros: () => currentConfig().samplingIntervalMicros,
  heapSamplingIntervalBytes: () => currentConfig().heapSamplingIntervalBytes,
  ensureHeapSampling: () => {
    if (!heapRunning && workerThreads.isMainThread) startHeapProfiling();
  },
});

// deprecated in the official SDK: getLabels/setLabels
const getWallLabels = getLabels;
const setWallLabels = setLabels;

const Pyroscope = {
  SourceMapper,
  expressMiddleware: mw.expressMiddleware,
  fastifyMiddleware: mw.fastifyMiddleware,
  labelMiddleware: mw.labelMiddleware,
  init,
  getWallLabels,
  setWallLabels,
  getLabels,
  setLabels,
  wrapWithLabels,
  start,
  startHeapProfiling,
  startWallProfiling,
  startCpuProfiling: startWallProfiling,
  stop,
  stopHeapProfiling,
  stopWallProfiling,
  stopCpuProfiling: stopWallProfiling,
  setLogger,
  NullLogger,
  flush,
  isRunning,
  stats,
  version: native.version(),
  VERSION,
};
Pyroscope.default = Pyroscope;
module.exports = Pyroscope;
