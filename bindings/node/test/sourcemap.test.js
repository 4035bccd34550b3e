'use strict';
// SourceMapper with a real TypeScript build (typescript from npm): the
// compiled JavaScript's samples come back under the .ts file and the line of
// the TypeScript source, and the program type-checks against our
// index.d.ts.  Also checks the VLQ decoder on a hand-made map.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { runFixture, readProfilesDir, fnName } = require('./helpers');
const { SourceMapper, decodeMappings } = require('../lib/sourcemapper');

test('VLQ mappings decode to absolute positions', () => {
  // "AAAA;AACA,IAAI" = line 1: [0,0,0,0]; line 2: [0,0,1,0], [4,0,1,4]
  assert.deepStrictEqual(decodeMappings('AAAA;AACA,IAAI'), [[[0, 0, 0, 0]], [[0, 0, 1, 0], [4, 0, 1, 4]]]);
  // negative deltas and multi-digit values: 'D' = -1, 'gB' = 16
  assert.deepStrictEqual(decodeMappings('gBAAA,DAAD'), [[[15, 0, 0, -1], [16, 0, 0, 0]]]);
});

let tsc = null;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  // ci.sh installs typescript (devDependency); without it this test skips.
}

test('TypeScript build: profiles name the .ts file and line', { skip: tsc === null && 'typescript not installed' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-ts-'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pyro-ts-prof-'));
  try {
    const lib = path.resolve(__dirname, '..', 'lib', 'index');
    // Type-only lines before the function shift the compiled lines.
    const src = [
      `import Pyroscope, { SourceMapper, PyroscopeConfig } from ${JSON.stringify(lib)};`,
      'interface Unit {',
      '  readonly name: string;',
      '  weight: number;',
      '}',
      'type Pair = [Unit, Unit];',
      'declare const nothing: Pair | undefined;',
      '',
      'function tsHeavy(ms: number): number {', // line 9
      '  let x = 0;',
      '  const end = process.cpuUsage().user + ms * 1000;',
      '  while (process.cpuUsage().user < end) x = (x + Math.sqrt(x + 1)) % 1e9;',
      '  return x;',
      '}',
      'async function main(): Promise<void> {',
      '  const cfg: PyroscopeConfig = {',
      "    appName: 'node.ts', serverAddress: process.env.PYRO_SERVER, flushIntervalMs: 1000,",
      '    sourceMapper: await SourceMapper.create([__dirname]),',
      '  };',
      '  Pyroscope.init(cfg);',
      '  Pyroscope.start();',
      '  let sink = 0;',
      '  for (let i = 0; i < 10; i++) { sink += tsHeavy(80); await new Promise((r) => setImmediate(r)); }',
      '  await Pyroscope.stop();',
      '  console.log(sink > 0);',
      '}',
      'main();',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'app.ts'), src);
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2020', module: 'commonjs', strict: true, sourceMap: true, outDir: 'dist',
        rootDir: '.', esModuleInterop: true, types: ['node'],
        typeRoots: [path.resolve(__dirname, '..', 'node_modules', '@types')] },
      files: ['app.ts'],
    }));
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    assert.strictEqual(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
    const js = path.join(dir, 'dist', 'app.js');
    const jsLine = fs.readFileSync(js, 'utf8').split('\n').findIndex((l) => l.includes('function tsHeavy')) + 1;
    assert.notStrictEqual(jsLine, 9, 'compiled line should differ from the TS line');
    const mapper = await SourceMapper.create([path.join(dir, 'dist')]);
    assert.ok(mapper.hasMappingInfo(js));
    const loc = mapper.mappingInfo({ file: js, line: jsLine, column: 1, name: 'tsHeavy' });
    assert.strictEqual(loc.file, path.join(dir, 'app.ts'));
    assert.strictEqual(loc.line, 9);

    await runFixture(js, { PYRO_SERVER: `file://${out}` });
    const frames = readProfilesDir(out).filter((p) => p.file.startsWith('node.ts.cpu.'))
      .flatMap((p) => p.profile.samples).flatMap((s) => s.stack).filter((f) => fnName(f) === 'tsHeavy');
    assert.ok(frames.length > 0, 'no tsHeavy frames');
    for (const f of frames) {
      assert.strictEqual(f.file, path.join(dir, 'app.ts'));
      assert.strictEqual(f.line, 9);
      assert.match(f.name, /app\.ts:tsHeavy:9$/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
});
