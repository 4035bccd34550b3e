# frozen_string_literal: true

# Stand-ins for the opentelemetry-sdk objects a span processor sees
# (Debian packages no opentelemetry-sdk): span.context.span_id / trace_id
# as 8/16 binary bytes, remote?, name, parent_span_id, set_attribute.  A
# parent context is {span: parent}; OpenTelemetry::Trace.current_span reads
# it, as the API's does, so a span under a remote parent is a local root.
FakeContext = Struct.new(:span_id, :trace_id, :remote) do
  def remote? = remote
end

class FakeSpan
  attr_reader :context, :name, :parent_span_id, :attributes

  def initialize(name, span_id, parent_span_id, remote: false, trace: 1)
    @name = name
    @context = FakeContext.new([span_id].pack("Q>"), [trace, 2].pack("Q>Q>"), remote)
    @parent_span_id = parent_span_id ? [parent_span_id].pack("Q>") : ("\0" * 8).b
    @attributes = {}
  end

  def set_attribute(key, value)
    @attributes[key] = value
    self
  end
end

module OpenTelemetry
  module Trace
    def self.current_span(context)
      context.is_a?(Hash) ? context[:span] : nil
    end
  end
end
