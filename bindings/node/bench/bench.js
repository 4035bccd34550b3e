'use strict';
// Overhead of profiling a JS CPU workload at the default rate (100 Hz), as a
// ratio against the same workload unprofiled, measured in one run: each
// mode runs in fresh processes, interleaved over ROUNDS rounds; the median
// is reported, for process CPU time (all threads, so the profiler's own
// threads count) and for wall time (noisy on a shared machine).  Compares with @pyroscope/nodejs when it is installed in
// bench/node_modules (cd bench && npm install).
const http = require('http');
const path = require('path');
const { execFileSync } = require('child_process');

const ROUNDS = Number(process.env.ROUNDS || 5);
const workloads = (process.env.WORKLOADS || 'cpu,async').split(',');

function haveOfficial() {
  try {
    require.resolve('@pyroscope/nodejs', { paths: [__dirname] });
    return true;
  } catch {
    return false;
  }
}

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  let uploads = 0;
  const sink = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { uploads++; res.end(); });
  });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  const server = `http://127.0.0.1:${sink.address().port}`;
  const modes = ['none', 'ours'];
  if (haveOfficial()) modes.push('official');
  else console.log('(@pyroscope/nodejs not installed in bench/: comparison skipped)');
  console.log(`node ${process.version}, ${ROUNDS} rounds, modes: ${modes.join(', ')}`);
  const results = {};
  for (const wl of workloads) {
    results[wl] = Object.fromEntries(modes.map((m) => [m, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 ? [...modes].reverse() : modes) {
        const out = await new Promise((resolve, reject) => {
          require('child_process').execFile(process.execPath, [path.join(__dirname, 'workload.js')], {
            env: { ...process.env, MODE: mode, WORKLOAD: wl, PYRO_SERVER: server },
          }, (err, stdout, stderr) => (err ? reject(new Error(`${mode}: ${err.message}\n${stderr}`)) : resolve(stdout)));
        });
        results[wl][mode].push(JSON.parse(out.trim().split('\n').pop()));
      }
    }
    console.log(`\nworkload ${wl}:`);
    for (const key of ['cpuMs', 'ms']) {
      const base = median(results[wl].none.map((r) => r[key]));
      console.log(`  ${key === 'ms' ? 'wall time' : 'process CPU time (all threads)'}:`);
      for (const m of modes) {
        const xs = results[wl][m].map((r) => r[key]);
        const med = median(xs);
        console.log(`    ${m.padEnd(9)} median ${med.toFixed(1)} ms  ratio ${(med / base).toFixed(3)}  runs ${xs.map((x) => x.toFixed(0)).join(' ')}`);
      }
    }
    console.log('  CPU of non-main threads (median ms per run, by thread name):');
    for (const m of modes) {
      const names = new Set(results[wl][m].flatMap((r) => Object.keys(r.threads || {})));
      const parts = [...names].sort().map((n) => `${n}=${median(results[wl][m].map((r) => (r.threads || {})[n] || 0)).toFixed(0)}`);
      if (m === 'ours') parts.push(`[main thread in collect()=${median(results[wl][m].map((r) => r.collectCpuMs)).toFixed(1)}]`);
      console.log(`    ${m.padEnd(9)} ${parts.join(' ')}`);
    }
  }
  console.log(`\nuploads received by the local sink: ${uploads}`);
  sink.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
