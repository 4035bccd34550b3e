# frozen_string_literal: true

require "pyroscope"
require "uri"

module Pyroscope
  # Span profiles for opentelemetry-sdk: the CPU samples taken while a root
  # (or local-root) span is active carry span_id=<16 hex> and
  # span_name=<name> as pprof labels, and the span gets the attribute
  # pyroscope.profile.id=<span_id>, which Grafana follows from a trace to
  # its profile.  The server reads span_id per sample (it does not become a
  # series); span_name is a label you can filter on.
  #
  #   require "pyroscope/otel"
  #   OpenTelemetry::SDK.configure do |c|
  #     c.add_span_processor(Pyroscope::Otel::SpanProcessor.new("my.app", "http://pyroscope:4040"))
  #   end
  #
  # Same class, constructor and options as the pyroscope-otel gem, which
  # this file replaces (drop it from the Gemfile).
  #
  # Root spans go through the core's span API (Native.span_begin), which
  # labels the samples of the OS thread that started the span, Ruby and
  # native alike; the fibers of that thread share it, as the official gem's
  # thread tags.  A span may finish on another thread: its own thread drops
  # the label at its next sample.  Two cases use thread tags instead
  # (Pyroscope.tag, fiber-local): root_span_only = false, and the /ingest
  # API, where the core records no spans (each tag set is a series there,
  # as it was with the official gem).
  module Otel
    class SpanProcessor
      ZERO_SPAN_ID = ("\0" * 8).b.freeze
      PROFILE_ID_ATTRIBUTE = "pyroscope.profile.id"
      SPAN_ID_LABEL = "span_id"
      SPAN_NAME_LABEL = "span_name"
      # Fiber-local stack of [span_id, tags] of the spans labelled with
      # thread tags.
      ACTIVE_KEY = :__pyroscope_otel_spans

      # app_name and pyroscope_endpoint only build pyroscope.profile.url.
      attr_accessor :app_name, :pyroscope_endpoint
      # Label only root / local-root spans (default true, as the official
      # processors); false labels every span (the innermost wins).
      attr_accessor :root_span_only
      # Add span_name to the samples (default true).
      attr_accessor :add_span_name
      # Add a pyroscope.profile.url attribute (default false: true needs
      # app_name and pyroscope_endpoint).
      attr_accessor :add_url

      def initialize(app_name = nil, pyroscope_endpoint = nil)
        @app_name = app_name
        @pyroscope_endpoint = pyroscope_endpoint && URI.parse(pyroscope_endpoint)
        @root_span_only = true
        @add_span_name = true
        @add_url = !(app_name.nil? || pyroscope_endpoint.nil?)
        # [trace_id, span_id] -> Native span handle, for the spans begun
        # with the span API (finished on any thread).
        @open = {}
        @open_lock = Mutex.new
      end

      def on_start(span, parent_context)
        return if @root_span_only && !root_span?(span, parent_context)

        ctx = span.context
        id = ctx.span_id.unpack1("H*")
        name = span.name.to_s if @add_span_name && !span.name.to_s.empty?
        if @root_span_only && !tags_fallback?
          handle = Native.span_begin(ctx.span_id.unpack1("Q>"), name)
          @open_lock.synchronize { @open[open_key(ctx)] = handle } if handle
        else
          tags = { SPAN_ID_LABEL => id }
          tags[SPAN_NAME_LABEL] = name if name
          Pyroscope.tag(tags)
          (Thread.current[ACTIVE_KEY] ||= []).push([id, tags])
        end
        span.set_attribute(PROFILE_ID_ATTRIBUTE, id)
        span.set_attribute("pyroscope.profile.url", profile_url(id)) if @add_url && @pyroscope_endpoint
      rescue StandardError => e
        report(e, "on_start")
      end

      # Ends the span's labels, on whichever thread it finishes.  With
      # thread tags, the enclosing labelled span (if any, with
      # root_span_only false) becomes the current one again.
      def on_finish(span)
        ctx = span.context
        handle = @open_lock.synchronize { @open.delete(open_key(ctx)) } unless @open.empty?
        if handle
          Native.span_finish(handle)
          return
        end

        stack = Thread.current[ACTIVE_KEY]
        return if stack.nil? || stack.empty?

        id = ctx.span_id.unpack1("H*")
        idx = stack.rindex { |sid, _| sid == id }
        return if idx.nil?

        stack.delete_at(idx)
        Pyroscope.remove_tags(SPAN_ID_LABEL, SPAN_NAME_LABEL)
        Pyroscope.tag(stack.last[1]) unless stack.empty?
      rescue StandardError => e
        report(e, "on_finish")
      end

      def force_flush(timeout: nil)
        success
      end

      def shutdown(timeout: nil)
        success
      end

      private

      def open_key(ctx)
        [ctx.trace_id, ctx.span_id]
      end

      # The running profiler uploads through /ingest, where the core does
      # not record spans: label through thread tags instead.
      def tags_fallback?
        Native.running? && !Native.span_labels?
      end

      # A root span has no parent; a local root has a remote parent.
      def root_span?(span, parent_context)
        return true if span.parent_span_id.nil? || span.parent_span_id.b == ZERO_SPAN_ID
        return false unless defined?(::OpenTelemetry::Trace)

        parent = ::OpenTelemetry::Trace.current_span(parent_context)
        !parent.nil? && parent.context.remote?
      rescue StandardError
        false
      end

      def profile_url(id)
        url = @pyroscope_endpoint.dup
        from = Time.now.to_i
        url.query = URI.encode_www_form(
          query: "#{@app_name}{#{SPAN_ID_LABEL}=\"#{id}\"}", from: from, until: from + 3600
        )
        url.to_s
      end

      def success
        defined?(::OpenTelemetry::SDK::Trace::Export::SUCCESS) ? ::OpenTelemetry::SDK::Trace::Export::SUCCESS : 0
      end

      def report(error, where)
        if defined?(::OpenTelemetry) && ::OpenTelemetry.respond_to?(:handle_error)
          ::OpenTelemetry.handle_error(exception: error, message: "Pyroscope::Otel::SpanProcessor##{where}")
        else
          warn("Pyroscope::Otel::SpanProcessor##{where}: #{error.class}: #{error.message}")
        end
      end
    end
  end
end

Pyroscope::Native.hide_path(__FILE__)
