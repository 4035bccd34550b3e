'use strict';
// Test helpers: a loopback /ingest server that decodes what the core
// uploads, a child-process runner, and sample accounting.
const http = require('http');
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { readProfile } = require('./pprof');

// Parse "app.cpu{k=v,k2=v2}" -> { app: 'app.cpu', tags: {k: v} }
function parseName(name) {
  const m = /^([^{]*)(?:\{(.*)\})?$/.exec(name);
  const tags = {};
  if (m && m[2]) {
    for (const kv of m[2].split(',')) {
      const i = kv.indexOf('=');
      if (i > 0) tags[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return { app: m ? m[1] : name, tags };
}

function multipartField(body, contentType, field) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType || '');
  if (!m) return body; // not multipart: the body is the profile
  const boundary = Buffer.from('--' + (m[1] || m[2]).trim());
  let pos = body.indexOf(boundary);
  while (pos >= 0) {
    const next = body.indexOf(boundary, pos + boundary.length);
    if (next < 0) break;
    const part = body.subarray(pos + boundary.length, next);
    const hdrEnd = part.indexOf('\r\n\r\n');
    if (hdrEnd >= 0) {
      const headers = part.subarray(0, hdrEnd).toString('latin1');
      if (new RegExp(`name="${field}"`).test(headers)) {
        return part.subarray(hdrEnd + 4, part.length - 2); // drop CRLF before boundary
      }
    }
    pos = next;
  }
  return null;
}

// Resolves to { url, uploads, close() }; uploads: [{ query, name, tags, headers, profile }]
function startIngestServer() {
  const uploads = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://127.0.0.1');
      if (req.method !== 'POST' || url.pathname !== '/ingest') {
        res.statusCode = 404;
        res.end();
        return;
      }
      const body = Buffer.concat(chunks);
      const query = Object.fromEntries(url.searchParams);
      const entry = { query, headers: req.headers, ...parseName(query.name || '') };
      try {
        const raw = multipartField(body, req.headers['content-type'], 'profile');
        entry.profile = readProfile(raw);
      } catch (err) {
        entry.error = err;
      }
      uploads.push(entry);
      res.statusCode = 200;
      res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        uploads,
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

// Run a fixture in a fresh node process (one profiler per process).
function runFixture(name, env, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.isAbsolute(name) ? name : path.join(__dirname, 'fixtures', name)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`fixture ${name} exited with ${code} ${signal || ''}\n${stdout}\n${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

function readProfilesDir(dir) {
  const out = [];
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) {
      out.push({ file: f, ...parseName(decodeURIComponent(f.replace(/\.(pb\.gz|pprof|pb)$/, ''))), profile: readProfile(fs.readFileSync(path.join(dir, f))) });
    }
  }
  return out;
}

// Sum the first sample value of samples whose stack contains a frame named
// `fn`; when both a and b appear, the innermost wins.
// Function names are written as @pyroscope/nodejs writes them:
// "<path>:<name>:<line>"; fnName() is the <name> part.
function fnName(frame) {
  const m = /^.*:([^:]*):\d+$/.exec(frame.name);
  return m ? m[1] : frame.name;
}

function onStack(sample, fn) {
  return sample.stack.some((fr) => fnName(fr) === fn);
}

// The core names every /ingest series after the application alone (the
// server tells profile types apart by their sample types), so tests do too.
function kindOf(profile) {
  const types = profile.sampleTypes.map((t) => t.type);
  if (types.includes('wall')) return 'wall';
  if (types.includes('cpu')) return 'cpu';
  if (types.some((t) => t.startsWith('inuse_') || t.startsWith('alloc_'))) return 'memory';
  return types.join(',');
}

module.exports = { startIngestServer, runFixture, readProfilesDir, parseName, onStack, fnName, kindOf };
