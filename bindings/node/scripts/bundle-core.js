#!/usr/bin/env node
'use strict';
// npm prepack: copy the C core (CMakeLists.txt, cmake/, include/, proto/,
// src/) from the repository into core/, so that the tarball builds on a
// machine that has never seen the repository.  --clean (postpack) removes
// the copy again.
const fs = require('fs');
const path = require('path');

const pkgDir = path.resolve(__dirname, '..');
const repoRoot = path.resolve(pkgDir, '..', '..');
const dest = path.join(pkgDir, 'core');
const PARTS = ['CMakeLists.txt', 'cmake', 'include', 'proto', 'src', 'LICENSE'];

if (process.argv.includes('--clean')) {
  fs.rmSync(dest, { recursive: true, force: true });
  process.exit(0);
}
if (!fs.existsSync(path.join(repoRoot, 'include', 'pyroscope.h'))) {
  console.error(`[pyroscope] prepack: no core at ${repoRoot}; run npm pack from the repository's bindings/node`);
  process.exit(1);
}
fs.rmSync(dest, { recursive: true, force: true });
fs.mkdirSync(dest);
for (const p of PARTS) {
  const from = path.join(repoRoot, p);
  if (fs.existsSync(from)) fs.cpSync(from, path.join(dest, p), { recursive: true });
}
console.log(`[pyroscope] bundled the C core into ${dest}`);
