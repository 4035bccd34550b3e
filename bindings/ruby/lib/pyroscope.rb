# frozen_string_literal: true

require "pyroscope/version"
require "pyroscope/pyroscope_ext"

# Our own Ruby code stays out of the stacks it records.
Pyroscope::Native.hide_path(__FILE__)

# Continuous profiling for Ruby on top of the Pyroscope C SDK.
#
#   Pyroscope.configure do |c|
#     c.application_name = "my.ruby.app"
#     c.server_address   = "http://pyroscope:4040"
#     c.tags             = { region: "eu-west-1" }
#   end
#   Pyroscope.tag_wrapper({ "controller" => "users" }) { handle_request }
#
# The public surface follows the official `pyroscope` gem.
module Pyroscope
  LOG_LEVELS = {
    "none" => -1, "off" => -1, "error" => 1, "warn" => 2, "warning" => 2,
    "info" => 3, "debug" => 4, "trace" => 4
  }.freeze

  FORK_MODES = {
    continue: Native::FORK_CONTINUE,
    stop: Native::FORK_STOP
  }.freeze

  APIS = { ingest: Native::API_INGEST, push: Native::API_PUSH }.freeze

  SPY_NAME = "rbspy"

  # Fiber-local slots (Thread#[] is fiber-local).  TAGS_KEY is read by the C
  # extension when it records a Ruby sample.
  BASE_KEY = :__pyroscope_base
  STACK_KEY = :__pyroscope_stack
  TAGS_KEY = :__pyroscope_tags
  # Thread variable (shared by the thread's fibers): the Hash the core's
  # per-OS-thread scope currently holds.
  SYNCED_KEY = :__pyroscope_synced

  Config = Struct.new(
    :application_name, :app_name, :server_address, :auth_token,
    :basic_auth_username, :basic_auth_password, :tenant_id, :http_headers,
    :log_level, :sample_rate, :detect_subprocesses, :oncpu, :report_pid,
    :report_thread_id, :tags, :compression, :report_encoding,
    :autoinstrument_rails,
    # Extensions of this SDK:
    :upload_interval, :upload_timeout, :stop_timeout, :fork_mode, :api
  ) do
    def initialize(*)
      super
      self.application_name = ""
      self.server_address = "http://localhost:4040"
      self.auth_token = ""
      self.sample_rate = 100
      self.detect_subprocesses = false
      self.oncpu = true
      self.report_pid = false
      self.report_thread_id = false
      self.log_level = "error"
      self.tags = {}
      self.http_headers = {}
      self.compression = "gzip"
      self.report_encoding = "pprof"
      self.autoinstrument_rails = true
      self.upload_interval = 10
      self.fork_mode = :continue
      self.api = :push
    end
  end

  module ForkHook # :nodoc:
    def _fork
      pid = super
      Pyroscope.__send__(:after_fork_child) if pid.zero?
      pid
    end
  end

  # Compatibility with the official gem's FFI module, for code that calls it
  # directly.
  module Rust
    module_function

    def add_thread_tag(key, value) = Pyroscope.add_thread_tag(key, value)
    def remove_thread_tag(key, value) = Pyroscope.remove_thread_tag(key, value)

    def drop_agent
      Pyroscope.shutdown
      true
    end
  end

  class << self
    def current_config
      @config
    end

    # Configure and start profiling.  Calling it again restarts the profiler
    # with the new configuration.  Raises ArgumentError on invalid settings.
    def configure
      config = Config.new
      yield config if block_given?
      opts = native_options(config)
      Native.stop if Native.running?
      Native.report_thread_id = config.report_thread_id ? true : false
      Native.start(opts)
      @config = config
      install_hooks
      # Pyroscope::Engine installs the Rails hooks after initialisation; a
      # configure call that comes later does it itself.
      initialize_rails_hooks if config.autoinstrument_rails && rails_initialized?
      config
    end

    # Run the block with `tags` added to the samples of the current thread
    # (fiber), then restore the previous tags, also on exceptions.
    def tag_wrapper(tags)
      raise ArgumentError, "Pyroscope.tag_wrapper requires a block" unless block_given?

      scope = normalize_tags(tags, "tag_wrapper")
      th = Thread.current
      stack = (th[STACK_KEY] ||= [])
      raise ArgumentError, "Pyroscope.tag_wrapper: nesting deeper than 32" if stack.size >= 32

      outer = th.thread_variable_get(SYNCED_KEY)
      stack.push(scope)
      apply_tags
      begin
        yield
      ensure
        stack.pop
        # Same-fiber nesting: the outer scope is this fiber's tags again.  A
        # wrapper in a child fiber hands the thread scope back to the fiber
        # that was running when it was entered.
        apply_tags(stack.empty? && th[BASE_KEY].nil? ? outer : :fiber)
      end
    end

    # Add tags to the current thread (fiber) until removed with remove_tags.
    def tag(tags)
      add = normalize_tags(tags, "tag")
      th = Thread.current
      base = (th[BASE_KEY] ||= {})
      base.merge!(add)
      apply_tags
      nil
    end

    # Remove tags previously added with Pyroscope.tag (keys or a Hash).
    def remove_tags(*keys)
      keys = keys.first.keys if keys.size == 1 && keys.first.is_a?(Hash)
      base = Thread.current[BASE_KEY]
      keys.each do |k|
        unless k.is_a?(String) || k.is_a?(Symbol)
          raise ArgumentError, "Pyroscope.remove_tags: keys must be Strings or Symbols, got #{k.inspect}"
        end
        base&.delete(k.to_s)
      end
      apply_tags
      nil
    end

    # The merged tags of the current thread (fiber), for inspection.
    def current_tags
      (Thread.current[TAGS_KEY] || {}).dup
    end

    # Upload what was collected so far; waits up to `timeout` seconds.
    def flush(timeout = 5)
      Native.flush((timeout * 1000).to_i)
    end

    def running?
      Native.running?
    end

    def stats
      (Native.stats || {}).merge(Native.frame_stats)
    end

    def stop
      @config = nil
      Native.stop
    end

    def shutdown
      stop
    end

    # Adds an around_action to ActionController that tags each request with
    # action=<controller>/<action>.  Called by Pyroscope::Engine after Rails
    # has initialised; safe to call more than once.
    def initialize_rails_hooks
      return false if @rails_hooked

      block = lambda do |ctrl, action|
        Pyroscope.tag_wrapper({ "action" => "#{ctrl.controller_name}/#{ctrl.action_name}" }, &action)
      end
      ActionController::API.__send__(:around_action, block) if defined?(ActionController::API)
      ActionController::Base.__send__(:around_action, block) if defined?(ActionController::Base)
      @rails_hooked = true
    end

    # The official gem's low-level calls: a tag on the current thread
    # (fiber) until removed.  Prefer tag_wrapper.
    def add_thread_tag(key, value)
      tag({ key => value })
      true
    end

    # Removes `key` if it still has `value` (what add_thread_tag set).
    def remove_thread_tag(key, value)
      base = Thread.current[BASE_KEY]
      return false unless base && base[key.to_s] == value.to_s

      remove_tags(key.to_s)
      true
    end

    # Used by pyroscope-otel and older gems: _add_tags(tags) or
    # _add_tags(thread_id, tags) where thread_id is Pyroscope.thread_id.
    def _add_tags(*args)
      tags = args.last
      tags.each { |k, v| add_thread_tag(k, v) }
      nil
    end

    def _remove_tags(*args)
      tags = args.last
      tags.each { |k, v| remove_thread_tag(k, v) }
      nil
    end

    # The id older gems pass to _add_tags: the current OS thread.
    def thread_id
      Thread.current.respond_to?(:native_thread_id) ? Thread.current.native_thread_id : Thread.current.object_id
    end

    private

    def apply_tags(thread_scope = :fiber)
      th = Thread.current
      merged = {}
      base = th[BASE_KEY]
      merged.merge!(base) if base
      th[STACK_KEY]&.each { |h| merged.merge!(h) }
      merged.delete_if { |_, v| v.empty? }
      merged = merged.empty? ? nil : merged.freeze
      th[TAGS_KEY] = merged
      thread_scope = merged if thread_scope == :fiber
      th.thread_variable_set(SYNCED_KEY, thread_scope)
      Native.sync_thread_scope(thread_scope)
    end

    def normalize_tags(tags, what)
      unless tags.is_a?(Hash)
        raise ArgumentError, "Pyroscope.#{what}: tags must be a Hash, got #{tags.class}"
      end
      raise ArgumentError, "Pyroscope.#{what}: at most 16 tags at once" if tags.size > 16

      tags.each_with_object({}) do |(k, v), out|
        key, val = tag_pair(k, v, "Pyroscope.#{what}")
        out[key] = val
      end
    end

    def tag_pair(key, value, what)
      key = key.to_s if key.is_a?(Symbol)
      unless key.is_a?(String)
        raise ArgumentError, "#{what}: tag keys must be Strings or Symbols, got #{key.inspect}"
      end

      value = value.nil? ? "" : value.to_s
      begin
        # An empty value removes the key inside a scope; check the key alone.
        Native.check_tag(key, value.empty? ? "x" : value)
      rescue ArgumentError => e
        raise ArgumentError, "#{what}: #{e.message.sub(/\Apyroscope: invalid tag: /, '')}"
      end
      [key.dup.freeze, value.dup.freeze]
    end

    def native_options(config)
      name = config.app_name || config.application_name
      name = nil if name.is_a?(String) && name.empty?
      if name.nil? && ENV.fetch("PYROSCOPE_APPLICATION_NAME", "").empty?
        raise ArgumentError, "Pyroscope.configure: application_name is required"
      end

      {
        application_name: opt_string(config, :application_name, name),
        server_address: server_address(config.server_address),
        sample_rate: sample_rate(config.sample_rate),
        upload_interval_ms: seconds_to_ms(config, :upload_interval, 0.1),
        upload_timeout_ms: seconds_to_ms(config, :upload_timeout, 0.001),
        stop_timeout_ms: seconds_to_ms(config, :stop_timeout, 0.001),
        tags: static_tags(config),
        auth_token: opt_string(config, :auth_token),
        basic_auth_username: opt_string(config, :basic_auth_username),
        basic_auth_password: opt_string(config, :basic_auth_password),
        tenant_id: opt_string(config, :tenant_id),
        http_headers: http_headers(config.http_headers),
        log_level: log_level(config.log_level),
        fork_mode: fork_mode(config.fork_mode),
        api: api(config.api),
        spy_name: SPY_NAME
      }
    end

    def opt_string(config, field, value = config[field])
      return nil if value.nil? || value == ""
      unless value.is_a?(String)
        raise ArgumentError, "Pyroscope.configure: #{field} must be a String, got #{value.class}"
      end
      raise ArgumentError, "Pyroscope.configure: #{field} must not contain NUL bytes" if value.include?("\0")

      value
    end

    def server_address(addr)
      return nil if addr.nil? || addr == ""
      unless addr.is_a?(String) && addr.match?(%r{\A(https?|file)://.}i)
        raise ArgumentError,
              "Pyroscope.configure: server_address must be an http(s):// or file:// URL, got #{addr.inspect}"
      end

      addr
    end

    def sample_rate(rate)
      return nil if rate.nil?
      unless rate.is_a?(Integer) && rate >= 1 && rate <= 10_000
        raise ArgumentError,
              "Pyroscope.configure: sample_rate must be an Integer from 1 to 10000 (Hz), got #{rate.inspect}"
      end

      rate
    end

    def seconds_to_ms(config, field, min)
      v = config[field]
      return nil if v.nil?
      unless v.is_a?(Numeric) && v >= min
        raise ArgumentError, "Pyroscope.configure: #{field} must be a number of seconds >= #{min}, got #{v.inspect}"
      end

      (v * 1000).round
    end

    def static_tags(config)
      tags = config.tags || {}
      unless tags.is_a?(Hash)
        raise ArgumentError, "Pyroscope.configure: tags must be a Hash, got #{tags.class}"
      end

      out = {}
      tags.each do |k, v|
        next if v.nil?

        key, val = tag_pair(k, v, "Pyroscope.configure: tags")
        out[key] = val unless val.empty?
      end
      out["pid"] = Process.pid.to_s if config.report_pid
      # The official gem labels its push series with the OTel scope and the
      # Ruby runtime; /ingest series names keep to the user's own tags.
      if (config.api.nil? || config.api.to_s == "push") &&
         config.server_address.to_s.match?(%r{\Ahttps?://}i)
        runtime_labels.each { |k, v| out[k] ||= v }
      end
      out
    end

    def runtime_labels
      {
        "otel.scope.name" => "com.grafana.pyroscope/ruby",
        "otel.scope.version" => VERSION,
        "process.runtime.name" => defined?(RUBY_ENGINE) ? RUBY_ENGINE : "ruby",
        "process.runtime.version" =>
          defined?(RUBY_ENGINE_VERSION) ? RUBY_ENGINE_VERSION : RUBY_VERSION
      }
    end

    def http_headers(headers)
      headers ||= {}
      unless headers.is_a?(Hash)
        raise ArgumentError, "Pyroscope.configure: http_headers must be a Hash, got #{headers.class}"
      end

      headers.each_with_object({}) do |(k, v), out|
        name = k.to_s
        unless name.match?(/\A[!#$%&'*+\-.^_`|~0-9A-Za-z]+\z/)
          raise ArgumentError, "Pyroscope.configure: http_headers: invalid header name #{k.inspect}"
        end
        value = v.to_s
        if value.match?(/[\r\n\0]/)
          raise ArgumentError, "Pyroscope.configure: http_headers: value of #{name} contains a line break or NUL"
        end

        out[name] = value
      end
    end

    def log_level(level)
      return level if level.is_a?(Integer) && level.between?(-1, 4)

      LOG_LEVELS.fetch(level.to_s.downcase) do
        raise ArgumentError,
              "Pyroscope.configure: log_level must be one of #{LOG_LEVELS.keys.join(', ')}, got #{level.inspect}"
      end
    end

    def api(name)
      return nil if name.nil?

      APIS.fetch(name.is_a?(String) ? name.to_sym : name) do
        raise ArgumentError, "Pyroscope.configure: api must be :push or :ingest, got #{name.inspect}"
      end
    end

    def fork_mode(mode)
      FORK_MODES.fetch(mode.is_a?(String) ? mode.to_sym : mode) do
        raise ArgumentError, "Pyroscope.configure: fork_mode must be :continue or :stop, got #{mode.inspect}"
      end
    end

    def install_hooks
      return if @hooks_installed

      @hooks_installed = true
      Process.singleton_class.prepend(ForkHook) if Process.respond_to?(:_fork)
      at_exit { Native.stop if Native.running? }
    end

    def rails_initialized?
      defined?(::Rails) && ::Rails.respond_to?(:application) &&
        ::Rails.application.respond_to?(:initialized?) && ::Rails.application.initialized?
    end

    def after_fork_child
      @config = nil unless Native.after_fork_child
    end
  end
end

require "pyroscope/engine" if defined?(::Rails::Engine)
