# frozen_string_literal: true

# Pyroscope::Otel::SpanProcessor driven the way opentelemetry-sdk drives a
# span processor (Debian packages no opentelemetry-sdk): on_start(span,
# parent_context) and on_finish(span) with span objects that have the SDK's
# interface (otel_fakes.rb).
#   root "GET /checkout": work_a, then a child span "db" with work_inner;
#   after both end: work_untagged.  Prints each span's attributes as JSON.
require "json"
require_relative "work"

opts = ENV["API"] ? { api: ENV["API"].to_sym } : {}
Work.setup_profiler(ARGV.fetch(0), app: "ruby.otel", **opts)
require "pyroscope/otel"
require_relative "otel_fakes"

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
