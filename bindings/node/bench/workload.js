'use strict';
// One benchmark run in a fresh process: MODE=none|ours|official,
// WORKLOAD=cpu|async.  Prints {"ms": wall, "cpuMs": process CPU} of the
// timed part.
const mode = process.env.MODE || 'none';
const workload = process.env.WORKLOAD || 'cpu';
const server = process.env.PYRO_SERVER;

function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
function jsonRound(i) {
  const o = { id: i, name: `item-${i}`, tags: ['a', 'b', 'c'], nested: { x: i * 1.5, y: [1, 2, 3, i] } };
  return JSON.parse(JSON.stringify(o)).nested.y.length;
}
function sortNumbers(i) {
  const a = [];
  for (let k = 0; k < 200; k++) a.push((k * 7919 + i) % 1009);
  a.sort((x, y) => x - y);
  return a[100];
}
function regexWork(i) {
  return /(\d+)-(\w+)/.exec(`order ${i}-abc${i % 10} shipped`)[2].length;
}
function unit(i) {
  return fib(15) + jsonRound(i) + sortNumbers(i) + regexWork(i);
}

async function main() {
  let profiler = null;
  if (mode === 'ours') {
    profiler = require('..');
    profiler.init({ appName: 'bench.ours', serverAddress: server, flushIntervalMs: 10000, logLevel: 'error' });
    profiler.start();
  } else if (mode === 'official') {
    const resolved = require.resolve('@pyroscope/nodejs', { paths: [__dirname] });
    const mod = require(resolved);
    profiler = mod.default || mod;
    profiler.init({ appName: 'bench.official', serverAddress: server, flushIntervalMs: 10000 });
    // Both packages as users start them: wall (CPU) and heap profiling.
    profiler.start();
  }
  // @pyroscope/nodejs's wrapWithLabels returns nothing: take the promise
  // out of the callback.
  const label = (i, fn) => {
    if (!profiler) return fn();
    let p;
    profiler.wrapWithLabels({ request: i % 2 ? 'odd' : 'even' }, () => { p = fn(); });
    return p;
  };
  // warm-up
  let sink = 0;
  for (let i = 0; i < 2000; i++) sink += unit(i);
  const iterations = Number(process.env.ITER || 60000);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (workload === 'cpu') {
    for (let i = 0; i < iterations; i++) sink += unit(i);
  } else {
    // async: 64 concurrent labelled "requests", each awaiting between units
    const per = Math.floor(iterations / 64);
    const reqs = [];
    for (let r = 0; r < 64; r++) {
      reqs.push(label(r, async () => {
        for (let i = 0; i < per; i++) { sink += unit(i); await null; }
      }));
    }
    await Promise.all(reqs);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  const cpuMs = (c.user + c.system) / 1000; // all threads: includes profiler threads
  if (profiler) await profiler.stop();
  // CPU time of every thread but the main one (profiler threads, GC helpers).
  const fs = require('fs');
  const threads = {};
  for (const tid of fs.readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      // schedstat: nanoseconds on CPU first
      const ms = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      if (ms > 0) threads[name] = (threads[name] || 0) + ms;
    } catch { /* thread exited */ }
  }
  const extra = mode === 'ours' ? { collectCpuMs: profiler.stats().v8.collectCpuUs / 1000 } : {};
  process.stdout.write(JSON.stringify({ ms, cpuMs, threads, ...extra, sink }) + '\n');
}
main();
