# frozen_string_literal: true

# Native code with the GVL released inside a root span: those samples are
# labelled by the core's own per-thread span (no Ruby frames, no job).
#   phase=in: deflate in the span "compress"; phase=out: after it ended.
require_relative "work"
require "zlib"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.otel")
require "pyroscope/otel"
require_relative "otel_fakes"

sp = Pyroscope::Otel::SpanProcessor.new
data = Random.new(42).bytes(4_000_000)
deflate_for = lambda do |secs|
  t_end = Work.cpu_now + secs
  Zlib::Deflate.deflate(data) while Work.cpu_now < t_end
end
span = FakeSpan.new("compress", 0x0123456789abcdef, nil)
Pyroscope.tag_wrapper({ "phase" => "in" }) do
  sp.on_start(span, nil)
  deflate_for.call(0.6)
  sp.on_finish(span)
end
Pyroscope.tag_wrapper({ "phase" => "out" }) { deflate_for.call(0.6) }
Pyroscope.shutdown
