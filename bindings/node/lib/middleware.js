'use strict';
// HTTP integrations.
//   expressMiddleware() / fastifyMiddleware(): pull mode like
//     @pyroscope/nodejs: GET /debug/pprof/profile?seconds=N (a wall/CPU
//     profile of the next N seconds) and GET /debug/pprof/heap (the live
//     sampled heap), both gzip-compressed pprof.
//   labelMiddleware(fn): this package's own: runs each request under the
//     labels fn(req) returns (default http_method, http_path).
const { encodeProfile } = require('./pprof-encode');
const { typeError, isObject } = require('./config');

function createMiddleware(native, api) {
  async function wallProfile(seconds) {
    const interval = api.samplingIntervalMicros();
    const handle = native.pullStart(interval);
    const ms = Math.max(0, Math.min(3600, Number.isFinite(seconds) ? seconds : 1)) * 1000;
    await new Promise((r) => setTimeout(r, ms));
    const entries = native.pullStop(handle);
    const samples = entries.map((e) => ({
      values: [e[0], e[0] * interval * 1000],
      stack: e.slice(1).map(([name, file, line]) => ({ name, file, line })),
    }));
    return encodeProfile({
      sampleTypes: [['samples', 'count'], ['wall', 'nanoseconds']],
      periodType: ['wall', 'nanoseconds'], period: interval * 1000,
      durationNanos: ms * 1e6, samples,
    });
  }

  function heapProfile() {
    api.ensureHeapSampling();
    const entries = native.pullHeap() || [];
    const samples = entries.map((e) => ({
      values: [e[0], e[1]],
      stack: e.slice(2).map(([name, file, line]) => ({ name, file, line })),
    }));
    return encodeProfile({
      sampleTypes: [['inuse_objects', 'count'], ['inuse_space', 'bytes']],
      periodType: ['space', 'bytes'], period: api.heapSamplingIntervalBytes(),
      durationNanos: 0, samples,
    });
  }

  function expressMiddleware() {
    return function pyroscopePprof(req, res, next) {
      if (req.method !== 'GET') return next();
      const p = req.path || String(req.url || '').split('?')[0];
      let job;
      if (p === '/debug/pprof/heap') job = async () => heapProfile();
      else if (p === '/debug/pprof/profile') {
        const q = req.query || Object.fromEntries(new URL(req.url, 'http://x').searchParams);
        job = () => wallProfile(Number(q.seconds || 1));
      } else return next();
      job().then((buf) => {
        if (typeof res.status === 'function' && typeof res.send === 'function') {
          if (typeof res.type === 'function') res.type('application/octet-stream');
          res.status(200).send(buf);
        } else {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(buf);
        }
      }, (err) => {
        api.logger.error(`pyroscope: pull-mode profile failed: ${err && err.message}`);
        if (typeof res.sendStatus === 'function') res.sendStatus(500);
        else { res.statusCode = 500; res.end(); }
      });
    };
  }

  function fastifyMiddleware() {
    return function pyroscopePlugin(fastify, _options, done) {
      fastify.get('/debug/pprof/heap', async (request, reply) => {
        reply.status(200).type('application/octet-stream').send(heapProfile());
      });
      fastify.get('/debug/pprof/profile', async (request, reply) => {
        const seconds = Number((request.query && request.query.seconds) || 1);
        const buf = await wallProfile(seconds);
        reply.status(200).type('application/octet-stream').send(buf);
      });
      done();
    };
  }
  function labelMiddleware(options = {}) {
    let labelsOf;
    if (typeof options === 'function') labelsOf = options;
    else if (isObject(options) && (options.labels === undefined || typeof options.labels === 'function')) {
      labelsOf = options.labels || ((req) => ({
        http_method: req.method,
        http_path: String(req.originalUrl || req.url || '').split('?')[0] || '/',
      }));
    } else {
      throw typeError('ERR_INVALID_ARG_TYPE', 'labelMiddleware(options): options must be a function or { labels: function }');
    }
    return function pyroscopeLabels(req, res, next) {
      let labels;
      try {
        labels = labelsOf(req, res);
        for (const k of Object.keys(labels || {})) {
          if (labels[k] === undefined || labels[k] === null) delete labels[k];
          else if (typeof labels[k] === 'string') labels[k] = labels[k].replace(/[{},=\u0000-\u001f]/g, '_').slice(0, 200);
        }
        return api.wrapWithLabels(labels || {}, next);
      } catch (err) {
        if (labels === undefined || (err && err.code && String(err.code).startsWith('ERR_INVALID_ARG'))) {
          return next();
        }
        throw err;
      }
    };
  }

  return { expressMiddleware, fastifyMiddleware, labelMiddleware, wallProfile, heapProfile };
}

module.exports = { createMiddleware };
