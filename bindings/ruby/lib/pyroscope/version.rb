# frozen_string_literal: true

module Pyroscope
  VERSION = "0.1.0"
end
