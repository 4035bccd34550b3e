# frozen_string_literal: true

require_relative "lib/pyroscope/version"
require_relative "script/vendor_core"

# Building the gem from the repository packs a copy of the C core.
PyroscopeVendor.run(__dir__) if File.file?(File.expand_path("../../CMakeLists.txt", __dir__))

Gem::Specification.new do |s|
  s.name = "pyroscope"
  s.version = Pyroscope::VERSION
  # Named and versioned like the official gem (1.1.x at the time of
  # writing), so a Gemfile's `gem "pyroscope"` switches by its source only.
  s.summary = "Continuous profiling for Ruby (Grafana Pyroscope) on the Pyroscope C SDK"
  s.description = "Samples Ruby stacks with per-thread CPU timers and uploads pprof " \
                  "profiles to a Pyroscope server. API compatible with the pyroscope gem."
  s.authors = ["Pyroscope C SDK contributors"]
  s.license = "Apache-2.0"
  s.required_ruby_version = ">= 3.1"
  s.files = Dir.chdir(__dir__) do
    Dir["lib/**/*.rb", "ext/pyroscope/*.{c,h,rb}", "vendor/pyroscope-core/**/*",
        "README.md", "*.gemspec"].reject { |f| File.directory?(f) }
  end
  s.require_paths = ["lib"]
  s.extensions = ["ext/pyroscope/extconf.rb"]
  s.add_development_dependency "minitest", ">= 5"
end
