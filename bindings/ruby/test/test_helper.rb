# frozen_string_literal: true

require "minitest/autorun"
require "open3"
require "tmpdir"
require "rbconfig"
require_relative "support/pprof"
require_relative "support/ingest_server"

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
  # Run test/workloads/NAME.rb in a fresh Ruby (one profiler per process).
  # With http: true the profiles go to an IngestServer (tags in the series
  # name, static tags included); otherwise to file:// in a temp dir.
  # Returns the scratch dir; samples_in(dir) decodes what was produced.
  def run_workload(name, env = {}, http: false)
    dir = Dir.mktmpdir("pyroscope-rb-#{name}-")
    server = IngestServer.new if http
    script = File.join(ROOT, "test", "workloads", "#{name}.rb")
    cmd = [RbConfig.ruby, *LOAD_FLAGS, script, server ? server.url : dir, dir]
    out, status = Open3.capture2e(env, *cmd, chdir: ROOT)
    assert status.success?, "workload #{name} failed (#{status.inspect}):\n#{out}"
    @last_output = out
    @requests = server&.all || []
    dir
  ensure
    server&.close
  end

  attr_reader :requests

  # All samples of all profiles produced by the last run_workload; each
  # sample's labels are merged with the tags of its series name.
  def samples_in(dir)
    unless @requests.empty?
      return @requests.flat_map do |r|
        series = r.labels.empty? ? tags_from_name(r.query["name"].to_s) : push_tags(r.labels)
        Pprof.decode(gunzip(r.profile)).samples.each { |s| s.labels = series.merge(s.labels) }
      end
    end
    files = Dir.glob(File.join(dir, "**", "*.pb*")).sort
    refute_empty files, "no profile written to #{dir}: #{Dir.children(dir).inspect}\n#{@last_output}"
    files.flat_map { |f| Pprof.read(f).samples }
  end

  def gunzip(data)
    data = data.b
    data.start_with?("\x1f\x8b".b) ? Zlib::GzipReader.new(StringIO.new(data)).read : data
  end

  # Series labels of a push request, less the ones every series has.
  def push_tags(labels)
    labels.reject { |k, _| k == "__name__" || k == "service_name" || k.start_with?("otel.", "process.") }
  end

  # "app.cpu{k=v,k2=v2}" -> {"k"=>"v", ...}
  def tags_from_name(name)
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
