'use strict';
// A small pprof reader for the tests: gunzip + a protobuf wire-format
// decoder for the fields of perftools.profiles.Profile that the tests use.
const zlib = require('zlib');

function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7n;
  }
  return [result, pos];
}

// Yields [fieldNumber, wireType, value] where value is a BigInt for varints
// and fixed-width fields, or a Buffer for length-delimited fields.
function* fields(buf) {
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      yield [field, wire, v];
    } else if (wire === 1) {
      yield [field, wire, buf.readBigUInt64LE(pos)];
      pos += 8;
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      yield [field, wire, buf.subarray(pos, end)];
      pos = end;
    } else if (wire === 5) {
      yield [field, wire, BigInt(buf.readUInt32LE(pos))];
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

// Repeated scalar: packed (wire 2) or not (wire 0).
function scalars(wire, value, out) {
  if (wire === 2) {
    let pos = 0;
    while (pos < value.length) {
      let v;
      [v, pos] = readVarint(value, pos);
      out.push(v);
    }
  } else {
    out.push(value);
  }
}

const signed = (v) => BigInt.asIntN(64, v);

function decodeProfile(buf) {
  const p = { sampleType: [], samples: [], locations: new Map(), functions: new Map(), strings: [], periodType: null, period: 0n, timeNanos: 0n, durationNanos: 0n };
  const rawSamples = [];
  for (const [f, w, v] of fields(buf)) {
    switch (f) {
      case 1: { const vt = {}; for (const [g, , x] of fields(v)) { if (g === 1) vt.type = Number(x); if (g === 2) vt.unit = Number(x); } p.sampleType.push(vt); break; }
      case 2: rawSamples.push(v); break;
      case 4: {
        const loc = { id: 0n, lines: [] };
        for (const [g, , x] of fields(v)) {
          if (g === 1) loc.id = x;
          if (g === 4) { const ln = { functionId: 0n, line: 0n }; for (const [h, , y] of fields(x)) { if (h === 1) ln.functionId = y; if (h === 2) ln.line = signed(y); } loc.lines.push(ln); }
        }
        p.locations.set(loc.id, loc);
        break;
      }
      case 5: {
        const fn = { id: 0n, name: 0, systemName: 0, filename: 0, startLine: 0n };
        for (const [g, , x] of fields(v)) {
          if (g === 1) fn.id = x;
          if (g === 2) fn.name = Number(x);
          if (g === 3) fn.systemName = Number(x);
          if (g === 4) fn.filename = Number(x);
          if (g === 5) fn.startLine = signed(x);
        }
        p.functions.set(fn.id, fn);
        break;
      }
      case 6: p.strings.push(v.toString('utf8')); break;
      case 9: p.timeNanos = signed(v); break;
      case 10: p.durationNanos = signed(v); break;
      case 11: { const vt = {}; for (const [g, , x] of fields(v)) { if (g === 1) vt.type = Number(x); if (g === 2) vt.unit = Number(x); } p.periodType = vt; break; }
      case 12: p.period = signed(v); break;
      default: break;
    }
  }
  const str = (i) => p.strings[i] || '';
  for (const raw of rawSamples) {
    const locIds = [];
    const values = [];
    const labels = {};
    for (const [g, w, x] of fields(raw)) {
      if (g === 1) scalars(w, x, locIds);
      if (g === 2) scalars(w, x, values);
      if (g === 3) {
        let k = 0; let s = 0; let num = null;
        for (const [h, , y] of fields(x)) { if (h === 1) k = Number(y); if (h === 2) s = Number(y); if (h === 3) num = signed(y); }
        labels[str(k)] = num !== null && s === 0 ? Number(num) : str(s);
      }
    }
    const stack = []; // leaf first
    for (const id of locIds) {
      const loc = p.locations.get(id);
      if (!loc) continue;
      // Inlined lines are listed innermost first.
      for (const ln of loc.lines) {
        const fn = p.functions.get(ln.functionId);
        stack.push({ name: fn ? str(fn.name) : '?', file: fn ? str(fn.filename) : '', line: Number(ln.line) });
      }
    }
    p.samples.push({ stack, values: values.map((v) => Number(signed(v))), labels });
  }
  p.sampleTypes = p.sampleType.map((vt) => ({ type: str(vt.type), unit: str(vt.unit) }));
  return p;
}

function readProfile(bufOrGz) {
  const buf = bufOrGz[0] === 0x1f && bufOrGz[1] === 0x8b ? zlib.gunzipSync(bufOrGz) : bufOrGz;
  return decodeProfile(buf);
}

module.exports = { readProfile, decodeProfile };
