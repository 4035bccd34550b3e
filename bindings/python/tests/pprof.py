"""Minimal pprof (profile.proto) decoder: gzip + protobuf wire format.

Only what the tests need: samples (location ids, values, labels), locations
(function + line), functions (name, file) and the string table.
"""
import gzip


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """Yield (field number, wire type, value) of one message."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield field, wt, v


def _ints(wt, v):
    """A repeated integer field: packed (bytes) or one varint."""
    if wt == 2:
        out, i = [], 0
        while i < len(v):
            x, i = _varint(v, i)
            out.append(x)
        return out
    return [v]


def _signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


class Profile:
    def __init__(self, data):
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        self.strings = []
        self.sample_types = []
        raw_samples, locs, funcs = [], {}, {}
        self.period = 0
        for f, wt, v in _fields(data):
            if f == 1:
                st = dict((ff, vv) for ff, _, vv in _fields(v))
                self.sample_types.append((st.get(1, 0), st.get(2, 0)))
            elif f == 2:
                raw_samples.append(v)
            elif f == 4:
                lid, lines = 0, []
                for ff, wt2, vv in _fields(v):
                    if ff == 1:
                        lid = vv
                    elif ff == 4:
                        ln = dict((a, b) for a, _, b in _fields(vv))
                        lines.append((ln.get(1, 0), _signed(ln.get(2, 0))))
                locs[lid] = lines
            elif f == 5:
                fn = dict((ff, vv) for ff, _, vv in _fields(v))
                funcs[fn.get(1, 0)] = (fn.get(2, 0), fn.get(4, 0))
            elif f == 6:
                self.strings.append(v.decode("utf-8", "replace"))
            elif f == 12:
                self.period = v
        s = self.strings
        self.sample_types = [(s[a], s[b]) for a, b in self.sample_types]
        self.functions = {k: (s[a], s[b]) for k, (a, b) in funcs.items()}
        # location id -> [(function name, file, line)], innermost first
        self.locations = {
            k: [self.functions.get(fid, ("?", "")) + (line,)
                for fid, line in lines]
            for k, lines in locs.items()}
        self.samples = []
        for raw in raw_samples:
            loc_ids, values, labels = [], [], {}
            for ff, wt, vv in _fields(raw):
                if ff == 1:
                    loc_ids += _ints(wt, vv)
                elif ff == 2:
                    values += [_signed(x) for x in _ints(wt, vv)]
                elif ff == 3:
                    lab = dict((a, b) for a, _, b in _fields(vv))
                    labels[s[lab.get(1, 0)]] = s[lab.get(2, 0)]
            frames = []
            for lid in loc_ids:
                frames += self.locations.get(lid, [])
            self.samples.append(Sample(frames, values, labels))

    def total(self, index=0):
        return sum(x.values[index] for x in self.samples)


class Sample:
    __slots__ = ("frames", "values", "labels")

    def __init__(self, frames, values, labels):
        self.frames = frames  # [(function, file, line)], leaf first
        self.values = values
        self.labels = labels

    @property
    def functions(self):
        return [f[0] for f in self.frames]

    def has(self, suffix):
        return any(f == suffix or f.endswith("." + suffix)
                   for f in self.functions)
