# frozen_string_literal: true

# Rails integration, loaded by `require "pyroscope"` when Rails is present
# (as in the official gem): after the application has initialised, and if
# the configuration asks for it (autoinstrument_rails, default true), every
# controller action runs inside tag_wrapper({"action" => "ctrl/action"}).
module Pyroscope
  class Engine < ::Rails::Engine
    config.after_initialize do
      cfg = ::Pyroscope.current_config
      ::Pyroscope.initialize_rails_hooks if cfg&.autoinstrument_rails
    end
  end
end

Pyroscope::Native.hide_path(__FILE__)
