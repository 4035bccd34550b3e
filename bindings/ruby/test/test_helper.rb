# frozen_string_literal: true

require "minitest/autorun"
require "open3"
require "tmpdir"
require "rbconfig"
require_relative "support/pprof"

ROOT = File.expand_path("..", __dir__)

# Load the extension from the repo build (ruby extconf.rb && make in
# ext/pyroscope) unless PYROSCOPE_TEST_GEM=1 asks for the installed gem.
# In gem mode the workloads `require "pyroscope"` through RubyGems.
LOAD_FLAGS =
  if ENV["PYROSCOPE_TEST_GEM"] == "1"
    []
  else
    ["-I", File.join(ROOT, "lib"), "-I", File.join(ROOT, "ext")]
  end
$LOAD_PATH.unshift(*LOAD_FLAGS.reject { |f| f == "-I" })

module ProfileHelpers
  # Run test/workloads/NAME.rb in a fresh Ruby (one profiler per process)
  # writing profiles to a temp dir; returns the dir.
  def run_workload(name, env = {}, timeout: 120)
    dir = Dir.mktmpdir("pyroscope-rb-#{name}-")
    script = File.join(ROOT, "test", "workloads", "#{name}.rb")
    cmd = [RbConfig.ruby, *LOAD_FLAGS, script, dir]
    out, status = Open3.capture2e(env, *cmd)
    assert status.success?, "workload #{name} failed (#{status.inspect}):\n#{out}"
    @last_output = out
    dir
  end

  # All samples of all profiles in `dir`; each sample's labels are merged
  # with the tags that the file name carries (one file per tag set).
  def samples_in(dir)
    files = Dir.glob(File.join(dir, "**", "*.pb*")).sort
    refute_empty files, "no profile written to #{dir}: #{Dir.children(dir).inspect}\n#{@last_output}"
    files.flat_map do |f|
      file_tags = tags_from_name(File.basename(f))
      Pprof.read(f).samples.map do |s|
        s.labels = file_tags.merge(s.labels)
        s
      end
    end
  end

  # "app.cpu{k=v,k2=v2}..." -> {"k"=>"v", ...}; percent-encoding undone.
  def tags_from_name(name)
    name = name.gsub(/%([0-9A-Fa-f]{2})/) { Regexp.last_match(1).hex.chr }
    m = name.match(/\{([^}]*)\}/)
    return {} unless m

    m[1].split(",").filter_map { |kv| kv.split("=", 2) if kv.include?("=") }.to_h
  end

  def weight(samples)
    samples.sum { |s| s.values.first || 0 }
  end

  def with_function(samples, fn)
    samples.select { |s| s.functions.include?(fn) }
  end
end
