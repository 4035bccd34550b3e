'use strict';
// A small pprof (profile.proto) writer for the pull-mode endpoints
// (/debug/pprof/profile and /debug/pprof/heap), gzip-compressed.
const zlib = require('zlib');

class Writer {
  constructor() { this.chunks = []; this.len = 0; }
  byte(b) { this.chunks.push(Buffer.from([b])); this.len++; }
  varint(v) {
    const out = [];
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n !== 0n) b |= 0x80;
      out.push(b);
    } while (n !== 0n);
    const buf = Buffer.from(out);
    this.chunks.push(buf); this.len += buf.length;
  }
  key(field, wire) { this.varint((field << 3) | wire); }
  int(field, v) { if (v) { this.key(field, 0); this.varint(v); } }
  bytes(field, buf) { this.key(field, 2); this.varint(buf.length); this.chunks.push(buf); this.len += buf.length; }
  msg(field, w) { this.bytes(field, w.finish()); }
  packed(field, arr) {
    if (arr.length === 0) return;
    const w = new Writer();
    for (const v of arr) w.varint(v);
    this.msg(field, w);
  }
  finish() { return Buffer.concat(this.chunks, this.len); }
}

// samples: [{ values: [..], stack: [{ name, file, line }] (leaf first) }]
function encodeProfile({ sampleTypes, periodType, period, durationNanos, samples }) {
  const strings = [''];
  const index = new Map([['', 0]]);
  const str = (s) => {
    s = s || '';
    let i = index.get(s);
    if (i === undefined) { i = strings.length; strings.push(s); index.set(s, i); }
    return i;
  };
  const functions = new Map();
  const locations = new Map();
  const fnList = [];
  const locList = [];
  const locationOf = (f) => {
    const fk = `${f.name}\u0000${f.file}`;
    let fid = functions.get(fk);
    if (fid === undefined) {
      fid = fnList.length + 1;
      functions.set(fk, fid);
      fnList.push({ id: fid, name: str(f.name), file: str(f.file), line: f.line });
    }
    const lk = `${fid}\u0000${f.line}`;
    let lid = locations.get(lk);
    if (lid === undefined) {
      lid = locList.length + 1;
      locations.set(lk, lid);
      locList.push({ id: lid, fid, line: f.line });
    }
    return lid;
  };
  const out = new Writer();
  const vt = (t) => { const w = new Writer(); w.int(1, str(t[0])); w.int(2, str(t[1])); return w; };
  for (const t of sampleTypes) out.msg(1, vt(t));
  for (const s of samples) {
    const w = new Writer();
    w.packed(1, s.stack.map(locationOf));
    w.packed(2, s.values);
    out.msg(2, w);
  }
  for (const l of locList) {
    const w = new Writer();
    w.int(1, l.id);
    const line = new Writer();
    line.int(1, l.fid);
    line.int(2, l.line);
    w.msg(4, line);
    out.msg(4, w);
  }
  for (const f of fnList) {
    const w = new Writer();
    w.int(1, f.id); w.int(2, f.name); w.int(3, f.name); w.int(4, f.file); w.int(5, f.line);
    out.msg(5, w);
  }
  for (const s of strings) out.bytes(6, Buffer.from(s, 'utf8'));
  out.int(9, BigInt(Date.now()) * 1000000n);
  out.int(10, durationNanos);
  out.msg(11, vt(periodType));
  out.int(12, period);
  return zlib.gzipSync(out.finish());
}

module.exports = { encodeProfile };
