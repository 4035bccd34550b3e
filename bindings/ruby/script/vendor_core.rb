# frozen_string_literal: true

# Copy the C core (CMakeLists.txt, cmake/, include/, src/, proto/) from the
# repository root into vendor/pyroscope-core, so that a gem built from this
# directory carries the sources its extconf.rb compiles.
require "fileutils"

module PyroscopeVendor
  PARTS = %w[CMakeLists.txt cmake include src proto LICENSE].freeze

  module_function

  def run(ruby_dir = File.expand_path("..", __dir__))
    root = File.expand_path("../..", ruby_dir)
    dest = File.join(ruby_dir, "vendor", "pyroscope-core")
    unless File.file?(File.join(root, "CMakeLists.txt"))
      return dest if File.directory?(dest)

      abort "vendor_core: no core at #{root}"
    end
    FileUtils.rm_rf(dest)
    FileUtils.mkdir_p(dest)
    PARTS.each do |p|
      src = File.join(root, p)
      FileUtils.cp_r(src, dest) if File.exist?(src)
    end
    dest
  end
end

puts PyroscopeVendor.run if $PROGRAM_NAME == __FILE__
