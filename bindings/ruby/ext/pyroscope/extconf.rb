# frozen_string_literal: true

# Builds the Pyroscope C core with CMake (static, PIC) and links it into the
# extension.  The core is found, in order, at:
#   1. $PYROSCOPE_CORE_BUILD   an existing CMake build dir with libpyroscope.a
#                              (the sources are still needed for the header)
#   2. $PYROSCOPE_CORE_SOURCE  a checkout of the core
#   3. ../../../..             the repository root, when built from the repo
#   4. ../../vendor/pyroscope-core, the copy packed into the gem
# Extra CMake arguments can be passed in $PYROSCOPE_CMAKE_FLAGS.
require "mkmf"
require "fileutils"
require "shellwords"

HERE = File.expand_path(__dir__)

def core_source?(dir)
  File.file?(File.join(dir, "CMakeLists.txt")) &&
    File.file?(File.join(dir, "include", "pyroscope.h"))
end

def find_core_source
  [ENV["PYROSCOPE_CORE_SOURCE"],
   File.join(HERE, "..", "..", "..", ".."),
   File.join(HERE, "..", "..", "vendor", "pyroscope-core")].compact.each do |d|
    d = File.expand_path(d)
    return d if core_source?(d)
  end
  abort "pyroscope: cannot find the C core sources (set PYROSCOPE_CORE_SOURCE)"
end

def run!(*cmd)
  puts "pyroscope: #{cmd.shelljoin}"
  system(*cmd) or abort "pyroscope: command failed: #{cmd.shelljoin}"
end

def build_core(src)
  build = File.expand_path(ENV["PYROSCOPE_CORE_BUILD"] || "pyroscope-core-build")
  if ENV["PYROSCOPE_CORE_BUILD"].nil? || Dir.glob("#{build}/**/libpyroscope.a").empty?
    find_executable("cmake") or abort "pyroscope: cmake is required to build the C core"
    cache = File.join(build, "CMakeCache.txt")
    if File.file?(cache) && !File.read(cache).include?("CMAKE_HOME_DIRECTORY:INTERNAL=#{src}\n")
      FileUtils.rm_rf(build) # configured for another source tree
    end
    run!("cmake", "-S", src, "-B", build,
         "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
         "-DPYROSCOPE_BUILD_TESTS=OFF",
         "-DPYROSCOPE_BUILD_EXAMPLES=OFF",
         "-DPYROSCOPE_BUILD_BENCH=OFF",
         "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
         *Shellwords.split(ENV.fetch("PYROSCOPE_CMAKE_FLAGS", "")))
    run!("cmake", "--build", build, "--target", "pyroscope_static",
         "-j", ENV.fetch("PYROSCOPE_BUILD_JOBS", "2"))
  end
  lib = Dir.glob("#{build}/**/libpyroscope.a").first
  abort "pyroscope: libpyroscope.a not found under #{build}" unless lib
  [build, lib]
end

src = find_core_source
build, lib = build_core(src)
puts "pyroscope: core #{src}, static library #{lib}"

$INCFLAGS << " -I#{src}/include"
$CFLAGS << " -std=gnu11 -Wall -Wextra -Wno-unused-parameter"
# The core's dependencies (cmake/dependencies.cmake); static order matters:
# the archive first, then what it needs.
$LOCAL_LIBS << " #{lib}"
deps = `pkg-config --libs libunwind libprotobuf-c zlib libzstd 2>/dev/null`.strip
if $?.success? && !deps.empty?
  $libs << " #{deps} -lpthread -lm -ldl"
else
  %w[unwind protobuf-c z zstd pthread m dl].each do |l|
    have_library(l) or abort "pyroscope: lib#{l} is missing (apt-get install the -dev package)"
  end
end
# Keep the core's symbols private to this extension.
$DLDFLAGS << " -Wl,--exclude-libs,libpyroscope.a"

# Fork support in the core: a child must not touch the parent's handle
# unless the core re-initialises itself after fork (see after_fork_child).
fork_aware = Dir.glob("#{src}/src/**/*.c").any? { |f| File.read(f).include?("pthread_atfork") }
$defs << "-DRBPYRO_CORE_FORK_AWARE=#{fork_aware ? 1 : 0}"
puts "pyroscope: core handles fork: #{fork_aware}"

have_header("pyroscope.h") or abort "pyroscope: pyroscope.h not usable"
have_func("rb_postponed_job_preregister", "ruby/debug.h")
have_func("ruby_thread_has_gvl_p")

create_makefile("pyroscope/pyroscope_ext")
