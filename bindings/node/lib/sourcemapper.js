'use strict';
// SourceMapper: maps positions in compiled JavaScript back to the sources
// it was built from (TypeScript, bundlers), from the .map files next to the
// compiled files or inline `sourceMappingURL=data:` maps.  Same surface as
// @pyroscope/nodejs: SourceMapper.create(dirs), hasMappingInfo(file),
// mappingInfo({ file, name, line, column }).  Lines are 1-based, columns
// 1-based (as V8 reports them).
const fs = require('fs');
const path = require('path');
const { logger } = require('./logger');

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;

// Decode the "mappings" string into per-line arrays of segments
// [genColumn, sourceIndex, origLine, origColumn, nameIndex] (all 0-based).
function decodeMappings(mappings) {
  const lines = [];
  let line = [];
  let genCol = 0; let src = 0; let oLine = 0; let oCol = 0; let name = 0;
  let seg = [];
  let value = 0; let shift = 0;
  const flushSeg = () => {
    if (seg.length === 0) return;
    genCol += seg[0];
    const s = [genCol];
    if (seg.length >= 4) {
      src += seg[1]; oLine += seg[2]; oCol += seg[3];
      s.push(src, oLine, oCol);
      if (seg.length >= 5) { name += seg[4]; s.push(name); }
    }
    line.push(s);
    seg = [];
  };
  for (let i = 0; i < mappings.length; i++) {
    const c = mappings.charCodeAt(i);
    if (c === 59) { // ;
      flushSeg(); lines.push(line); line = []; genCol = 0;
      continue;
    }
    if (c === 44) { flushSeg(); continue; } // ,
    const d = c < 128 ? B64_VALUE[c] : -1;
    if (d < 0) throw new Error(`invalid base64 VLQ character ${JSON.stringify(mappings[i])}`);
    value += (d & 31) * 2 ** shift;
    if (d & 32) { shift += 5; continue; }
    seg.push(value & 1 ? -Math.floor(value / 2) : Math.floor(value / 2));
    value = 0; shift = 0;
  }
  flushSeg();
  lines.push(line);
  for (const l of lines) l.sort((a, b) => a[0] - b[0]);
  return lines;
}

class ParsedMap {
  constructor(raw, dir) {
    const map = typeof raw === 'string' ? JSON.parse(raw) : raw;
    if (map.sections) throw new Error('indexed source maps are not supported');
    this.file = map.file;
    const root = map.sourceRoot || '';
    this.sources = (map.sources || []).map((s) => path.resolve(dir, root, s || ''));
    this.names = map.names || [];
    this.lines = decodeMappings(map.mappings || '');
  }

  // line 1-based, column 0-based -> { source, line (1-based), column (0-based), name } | null
  originalPositionFor(line, column) {
    const segs = this.lines[line - 1];
    if (!segs || segs.length === 0) return null;
    let lo = 0; let hi = segs.length - 1; let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (segs[mid][0] <= column) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    // A function's start often sits before the first mapped column of its
    // line (e.g. `function` keyword emitted unmapped): take the line's first.
    const s = segs[best < 0 ? 0 : best];
    if (s.length < 4) return null;
    return { source: this.sources[s[1]], line: s[2] + 1, column: s[3], name: s.length >= 5 ? this.names[s[4]] : undefined };
  }
}

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (['ENOENT', 'EPERM', 'EACCES', 'ELOOP', 'ENOTDIR'].includes(err.code)) return;
    throw err;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== '.git' && p !== '/proc') walk(p, out);
    } else if (e.isFile() && /\.[cm]?js(\.map)?$/.test(e.name)) {
      out.push(p);
    }
  }
}

class SourceMapper {
  constructor(debug = false) {
    this.infoMap = new Map();
    this.debug = debug;
  }

  static async create(searchDirs, debug = false) {
    const mapper = new SourceMapper(debug);
    for (const dir of searchDirs || []) {
      const files = [];
      walk(path.resolve(dir), files);
      for (const f of files) {
        try {
          mapper.load(f);
        } catch (err) {
          logger.debug(`pyroscope: source map ${f}: ${err.message}`);
        }
      }
    }
    return mapper;
  }

  // Load one .map file, or the inline map of one .js file.
  load(file) {
    let text = fs.readFileSync(file, 'utf8');
    const dir = path.dirname(file);
    const candidates = [];
    if (!file.endsWith('.map')) {
      const m = /\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]*)/.exec(text);
      if (!m) return;
      text = Buffer.from(m[1], 'base64').toString('utf8');
      candidates.push(file);
    }
    const map = new ParsedMap(text, dir);
    if (file.endsWith('.map')) {
      if (map.file) candidates.push(path.resolve(dir, map.file));
      const same = path.resolve(dir, path.basename(file, '.map'));
      if (!candidates.includes(same)) candidates.push(same);
    }
    for (const c of candidates) {
      if (fs.existsSync(c)) {
        this.infoMap.set(path.normalize(c), { mapFileDir: dir, mapConsumer: map });
        if (this.debug) logger.debug(`pyroscope: loaded source map for ${c}`);
        return;
      }
    }
  }

  hasMappingInfo(inputPath) {
    return this.infoMap.has(path.normalize(inputPath));
  }

  mappingInfo(location) {
    const file = location.file && location.file.startsWith('file://') ? require('url').fileURLToPath(location.file) : location.file;
    const entry = file ? this.infoMap.get(path.normalize(file)) : undefined;
    if (entry === undefined) return location;
    const pos = entry.mapConsumer.originalPositionFor(location.line, location.column > 0 ? location.column - 1 : 0);
    if (pos === null || !pos.source) return location;
    return { file: pos.source, line: pos.line, name: pos.name || location.name, column: pos.column + 1 };
  }
}

module.exports = { SourceMapper, decodeMappings };
