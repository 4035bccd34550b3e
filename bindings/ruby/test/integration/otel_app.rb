# frozen_string_literal: true

# Span profiles against the real server: two kinds of root spans, driven
# through Pyroscope::Otel::SpanProcessor as opentelemetry-sdk drives it.
# "GET /checkout" (span id 00000000000000a1) runs Workload#work_a and
# "GET /search" (00000000000000b2) runs Workload#work_b.
#   ruby otel_app.rb SERVER_URL APP_NAME [SECONDS]
require_relative "../workloads/work"

url, app, secs = ARGV
require "pyroscope"
require "pyroscope/otel"
Pyroscope.configure do |c|
  c.application_name = app
  c.server_address = url
  c.log_level = "warn"
  c.upload_interval = 2
end

Ctx = Struct.new(:span_id, :trace_id) do
  def remote? = false
end
Span = Struct.new(:name, :context, :parent_span_id, :attributes) do
  def set_attribute(k, v) = attributes[k] = v
end

def span(name, id)
  Span.new(name, Ctx.new([id].pack("Q>"), [7, id].pack("Q>Q>")), ("\0" * 8).b, {})
end

processor = Pyroscope::Otel::SpanProcessor.new(app, url)
w = Workload.new
s = nil
(Float(secs || "6") / 0.4).round.times do
  s = span("GET /checkout", 0xa1)
  processor.on_start(s, nil)
  w.work_a(0.3)
  processor.on_finish(s)
  s = span("GET /search", 0xb2)
  processor.on_start(s, nil)
  w.work_b(0.1)
  processor.on_finish(s)
end
Pyroscope.flush(20)
Pyroscope.shutdown
puts "profile_id=#{s.attributes['pyroscope.profile.id']}"
