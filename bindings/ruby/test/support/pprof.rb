# frozen_string_literal: true

require "zlib"
require "stringio"

# A small decoder of pprof profiles (gzip + protobuf, google/pprof
# profile.proto) for the tests.  Only the fields the tests need.
module Pprof
  Sample = Struct.new(:frames, :values, :labels) do
    # Function names, leaf first.
    def functions
      frames.map(&:first)
    end
  end

  Profile = Struct.new(:sample_types, :samples, :period, :period_type,
                       :duration_nanos, :time_nanos, :path)

  module Wire
    module_function

    def varint(buf, pos)
      result = 0
      shift = 0
      loop do
        byte = buf.getbyte(pos)
        raise ArgumentError, "truncated varint" if byte.nil?

        pos += 1
        result |= (byte & 0x7f) << shift
        return [result, pos] if byte < 0x80

        shift += 7
      end
    end

    # Yields [field, wire_type, value]; value is an Integer or a String.
    def each_field(buf)
      pos = 0
      while pos < buf.bytesize
        key, pos = varint(buf, pos)
        field = key >> 3
        type = key & 7
        case type
        when 0
          v, pos = varint(buf, pos)
        when 1
          v = buf.byteslice(pos, 8).unpack1("Q<")
          pos += 8
        when 2
          len, pos = varint(buf, pos)
          v = buf.byteslice(pos, len)
          pos += len
        when 5
          v = buf.byteslice(pos, 4).unpack1("L<")
          pos += 4
        else
          raise ArgumentError, "unsupported wire type #{type}"
        end
        yield field, type, v
      end
    end

    def packed_varints(type, v)
      return [v] if type.zero?

      out = []
      pos = 0
      while pos < v.bytesize
        x, pos = varint(v, pos)
        out << x
      end
      out
    end

    def signed(x)
      x >= (1 << 63) ? x - (1 << 64) : x
    end
  end

  module_function

  def read(path)
    raw = File.binread(path)
    raw = Zlib::GzipReader.new(StringIO.new(raw)).read if raw.start_with?("\x1f\x8b".b)
    decode(raw).tap { |p| p.path = path }
  end

  def decode(buf)
    strings = []
    raw_samples = []
    locations = {}
    functions = {}
    sample_types = []
    period = 0
    period_type = nil
    duration = 0
    time = 0
    Wire.each_field(buf) do |f, t, v|
      case f
      when 1 then sample_types << value_type(v)
      when 2 then raw_samples << raw_sample(v)
      when 4 then loc = location(v); locations[loc[0]] = loc[1]
      when 5 then fn = function(v); functions[fn[0]] = fn[1]
      when 6 then strings << v.dup.force_encoding("UTF-8")
      when 9 then time = Wire.signed(v)
      when 10 then duration = Wire.signed(v)
      when 11 then period_type = value_type(v)
      when 12 then period = Wire.signed(v)
      end
    end
    str = ->(i) { strings[i] || "" }
    samples = raw_samples.map do |locs, values, labels|
      frames = locs.flat_map do |id|
        (locations[id] || []).map do |fid, line|
          name_i, file_i = functions[fid]
          [str.call(name_i), str.call(file_i), line]
        end
      end
      lbl = labels.to_h { |k, s| [str.call(k), str.call(s)] }
      Sample.new(frames, values, lbl)
    end
    Profile.new(sample_types.map { |a, b| [str.call(a), str.call(b)] }, samples, period,
                period_type && period_type.map { |i| str.call(i) }, duration, time)
  end

  def value_type(buf)
    t = u = 0
    Wire.each_field(buf) do |f, _, v|
      t = v if f == 1
      u = v if f == 2
    end
    [t, u]
  end

  def raw_sample(buf)
    locs = []
    values = []
    labels = []
    Wire.each_field(buf) do |f, t, v|
      case f
      when 1 then locs.concat(Wire.packed_varints(t, v))
      when 2 then values.concat(Wire.packed_varints(t, v).map { |x| Wire.signed(x) })
      when 3
        k = s = 0
        Wire.each_field(v) do |lf, _, lv|
          k = lv if lf == 1
          s = lv if lf == 2
        end
        labels << [k, s]
      end
    end
    [locs, values, labels]
  end

  # [id, [[function_id, line], ...]] (innermost first)
  def location(buf)
    id = 0
    lines = []
    Wire.each_field(buf) do |f, _, v|
      case f
      when 1 then id = v
      when 4
        fid = ln = 0
        Wire.each_field(v) do |lf, _, lv|
          fid = lv if lf == 1
          ln = Wire.signed(lv) if lf == 2
        end
        lines << [fid, ln]
      end
    end
    [id, lines]
  end

  # [id, [name_index, filename_index]]
  def function(buf)
    id = name = file = 0
    Wire.each_field(buf) do |f, _, v|
      case f
      when 1 then id = v
      when 2 then name = v
      when 4 then file = v
      end
    end
    [id, [name, file]]
  end
end
