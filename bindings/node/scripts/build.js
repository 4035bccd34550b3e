#!/usr/bin/env node
'use strict';
// npm install step: build the C core from the repository (../..) with CMake
// as a static PIC library, then the addon against it and the node headers
// that ship with the installed node (no header download).
//
// Environment:
//   PYROSCOPE_CORE_LIB     use this prebuilt libpyroscope.a (skip the core build)
//   PYROSCOPE_NODE_INCLUDE directory with node_api.h / v8-profiler.h
//   PYROSCOPE_BUILD_TYPE   CMake build type (default RelWithDebInfo)
//   PYROSCOPE_JOBS         parallel build jobs (default 2)
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const pkgDir = path.resolve(__dirname, '..');
// The core: bundled into core/ by `npm pack` (scripts/bundle-core.js), or
// the repository around bindings/node in a checkout.
const bundled = path.join(pkgDir, 'core');
const repoRoot = fs.existsSync(path.join(bundled, 'include', 'pyroscope.h'))
  ? bundled : path.resolve(pkgDir, '..', '..');
const buildDir = path.join(pkgDir, 'build');
const buildType = process.env.PYROSCOPE_BUILD_TYPE || 'RelWithDebInfo';
const jobs = String(process.env.PYROSCOPE_JOBS || 2);

function run(cmd, args) {
  console.log(`[pyroscope] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} exited with ${r.status}`);
}

function fail(msg) {
  console.error(`[pyroscope] build failed: ${msg}`);
  process.exit(1);
}

function nodeIncludeDir() {
  const candidates = [];
  if (process.env.PYROSCOPE_NODE_INCLUDE) candidates.push(process.env.PYROSCOPE_NODE_INCLUDE);
  if (process.env.npm_config_nodedir) candidates.push(path.join(process.env.npm_config_nodedir, 'include', 'node'));
  candidates.push(path.resolve(path.dirname(process.execPath), '..', 'include', 'node'));
  candidates.push('/usr/include/node', '/usr/local/include/node');
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'node_api.h')) && fs.existsSync(path.join(dir, 'v8-profiler.h'))) return dir;
  }
  fail('node headers (node_api.h, v8-profiler.h) not found; tried ' + candidates.join(', ') +
       '. Set PYROSCOPE_NODE_INCLUDE to the include/node directory of this node.');
}

// The V8 part of the addon must match the node binary's V8 build flags and version.
function v8Defines(incDir) {
  const defs = [];
  const gypi = path.join(incDir, 'config.gypi');
  if (fs.existsSync(gypi)) {
    const text = fs.readFileSync(gypi, 'utf8');
    const on = (k) => new RegExp(`'${k}':\\s*(1|'true')`).test(text);
    if (on('v8_enable_pointer_compression')) defs.push('V8_COMPRESS_POINTERS');
    if (on('v8_enable_pointer_compression_shared_cage')) defs.push('V8_COMPRESS_POINTERS_IN_SHARED_CAGE');
    else if (on('v8_enable_pointer_compression')) defs.push('V8_COMPRESS_POINTERS_IN_ISOLATE_CAGE');
    if (on('v8_enable_31bit_smis_on_64bit_arch')) defs.push('V8_31BIT_SMIS_ON_64BIT_ARCH');
    if (on('v8_enable_sandbox')) defs.push('V8_ENABLE_SANDBOX');
  }
  const verFile = path.join(incDir, 'node_version.h');
  if (fs.existsSync(verFile)) {
    const t = fs.readFileSync(verFile, 'utf8');
    const m = (n) => (t.match(new RegExp(`#define NODE_${n}_VERSION (\\d+)`)) || [])[1];
    const hdr = `${m('MAJOR')}.${m('MINOR')}.${m('PATCH')}`;
    if (hdr !== process.versions.node) {
      console.warn(`[pyroscope] warning: headers are node ${hdr}, running node is ${process.versions.node}`);
    }
  }
  return defs;
}

function findFile(dir, name) {
  if (!fs.existsSync(dir)) return null;
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isFile() && ent.name === name) return p;
    if (ent.isDirectory() && ent.name !== 'CMakeFiles') {
      const f = findFile(p, name);
      if (f) return f;
    }
  }
  return null;
}

function buildCore() {
  if (process.env.PYROSCOPE_CORE_LIB) return process.env.PYROSCOPE_CORE_LIB;
  if (!fs.existsSync(path.join(repoRoot, 'CMakeLists.txt')) ||
      !fs.existsSync(path.join(repoRoot, 'include', 'pyroscope.h'))) {
    fail(`the C core is neither bundled in ${bundled} nor at ${repoRoot}: install the npm tarball ` +
         '(npm pack bundles it), or set PYROSCOPE_CORE_LIB to a prebuilt libpyroscope.a');
  }
  const coreBuild = path.join(buildDir, 'core');
  run('cmake', ['-S', repoRoot, '-B', coreBuild, `-DCMAKE_BUILD_TYPE=${buildType}`,
    '-DPYROSCOPE_BUILD_TESTS=OFF', '-DPYROSCOPE_BUILD_EXAMPLES=OFF', '-DPYROSCOPE_BUILD_BENCH=OFF', '-DPYROSCOPE_BUILD_FUZZERS=OFF',
    '-DCMAKE_POSITION_INDEPENDENT_CODE=ON', '-Wno-dev']);
  const target = ['--build', coreBuild, '-j', jobs];
  // Build only the static library when the core names its target that way.
  const r = spawnSync('cmake', ['--build', coreBuild, '--target', 'help'], { encoding: 'utf8' });
  if (r.status === 0 && /\bpyroscope_static\b/.test(r.stdout)) target.push('--target', 'pyroscope_static');
  run('cmake', target);
  const lib = findFile(coreBuild, 'libpyroscope.a');
  if (!lib) fail(`libpyroscope.a not found under ${coreBuild}`);
  return lib;
}

function checkTools() {
  for (const tool of ['cmake', process.env.CC || 'cc', process.env.CXX || 'c++', 'pkg-config']) {
    const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (r.error) {
      fail(`${tool} not found. Build dependencies (Debian/Ubuntu): apt-get install -y build-essential cmake ` +
           'pkg-config libunwind-dev libzstd-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev');
    }
  }
}

function main() {
  if (!process.env.PYROSCOPE_CORE_LIB) checkTools();
  const inc = nodeIncludeDir();
  const defs = v8Defines(inc);
  const lib = buildCore();
  const addonBuild = path.join(buildDir, 'addon');
  run('cmake', ['-S', pkgDir, '-B', addonBuild, `-DCMAKE_BUILD_TYPE=${buildType}`,
    `-DNODE_INCLUDE_DIR=${inc}`, `-DPYROSCOPE_STATIC_LIB=${lib}`,
    `-DPYROSCOPE_INCLUDE_DIR=${path.join(repoRoot, 'include')}`,
    `-DNODE_V8_DEFINES=${defs.join(';')}`]);
  run('cmake', ['--build', addonBuild, '-j', jobs]);
  const out = findFile(addonBuild, 'pyroscope.node');
  if (!out) fail('pyroscope.node was not produced');
  fs.mkdirSync(path.join(buildDir, 'Release'), { recursive: true });
  fs.copyFileSync(out, path.join(buildDir, 'Release', 'pyroscope.node'));
  console.log(`[pyroscope] built ${path.join(buildDir, 'Release', 'pyroscope.node')}`);
}

main();
