# frozen_string_literal: true

# Pyroscope::Otel::SpanProcessor driven the way opentelemetry-sdk drives a
# span processor (Debian packages no opentelemetry-sdk): on_start(span,
# parent_context) and on_finish(span) with span objects that have the SDK's
# interface (context.span_id / trace_id as 8/16 binary bytes, name,
# parent_span_id, set_attribute, attributes).
#   root "GET /checkout": work_a, then a child span "db" with work_inner;
#   after both end: work_untagged.  Prints each span's attributes as JSON.
require "json"
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.otel")
require "pyroscope/otel"

FakeContext = Struct.new(:span_id, :trace_id) do
  def remote? = false
end

class FakeSpan
  attr_reader :context, :name, :parent_span_id, :attributes

  def initialize(name, span_id, parent_span_id)
    @name = name
    @context = FakeContext.new([span_id].pack("Q>"), [1, 2].pack("Q>Q>"))
    @parent_span_id = parent_span_id ? [parent_span_id].pack("Q>") : ("\0" * 8).b
    @attributes = {}
  end

  def set_attribute(key, value)
    @attributes[key] = value
    self
  end
end

proc_ = Pyroscope::Otel::SpanProcessor.new("ruby.otel", "http://pyroscope:4040")
proc_.root_span_only = ENV["ROOT_ONLY"] != "0"
w = Workload.new
root = FakeSpan.new("GET /checkout", 0xabcdef0123456789, nil)
proc_.on_start(root, nil)
w.work_a(0.5)
child = FakeSpan.new("db", 0x1111222233334444, 0xabcdef0123456789)
proc_.on_start(child, nil)
w.work_inner(0.4)
proc_.on_finish(child)
w.work_b(0.3)
proc_.on_finish(root)
w.work_untagged(0.3)
puts JSON.dump(root: root.attributes, child: child.attributes,
               flush: proc_.force_flush, shutdown: proc_.shutdown)
Pyroscope.shutdown
