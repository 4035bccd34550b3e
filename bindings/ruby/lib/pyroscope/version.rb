# frozen_string_literal: true

module Pyroscope
  VERSION = "1.2.0"
end
