# frozen_string_literal: true

require_relative "test_helper"

# Drop-in compatibility with the official `pyroscope` gem (issue 17).
class TestCompat < Minitest::Test
  include ProfileHelpers

  OFFICIAL_CONFIG = %i[
    application_name app_name server_address basic_auth_username
    basic_auth_password log_level sample_rate oncpu report_pid
    report_thread_id tags compression report_encoding autoinstrument_rails
    tenant_id http_headers
  ].freeze

  OFFICIAL_METHODS = %i[
    configure current_config tag_wrapper tag remove_tags stop shutdown
    initialize_rails_hooks _add_tags _remove_tags
  ].freeze

  def ruby(code)
    out, status = Open3.capture2e(RbConfig.ruby, *LOAD_FLAGS, "-e", code)
    assert status.success?, out
    out
  end

  def test_gem_is_named_and_versioned_like_the_official_one
    # In a child: the gemspec loads lib/pyroscope/version.rb of the repo.
    out, status = Open3.capture2e(RbConfig.ruby, "-e", <<~RUBY, chdir: ROOT)
      s = Gem::Specification.load("pyroscope.gemspec")
      puts s.name, s.version, s.files.grep(/engine|otel/).sort.join(",")
    RUBY
    assert status.success?, out
    name, version, files = out.lines.map(&:chomp).last(3)
    assert_equal "pyroscope", name
    # Above the official 1.1.1, so `gem "pyroscope", "~> 1.1"` resolves too.
    assert_operator Gem::Version.new(version), :>, Gem::Version.new("1.1.1")
    assert_equal "lib/pyroscope/engine.rb,lib/pyroscope/otel.rb", files
  end

  def test_official_api_surface
    out = ruby(<<~RUBY)
      require "pyroscope"
      c = Pyroscope::Config.new
      p c.members
      p [c.application_name, c.server_address, c.sample_rate, c.log_level,
         c.oncpu, c.report_pid, c.autoinstrument_rails, c.tags, c.http_headers]
      p #{OFFICIAL_METHODS.inspect}.reject { |m| Pyroscope.respond_to?(m) }
      p %i[add_thread_tag remove_thread_tag drop_agent].reject { |m| Pyroscope::Rust.respond_to?(m) }
      p defined?(Pyroscope::Engine)
    RUBY
    members, defaults, missing, missing_rust, engine = out.lines.map { |l| eval(l) } # rubocop:disable Security/Eval
    assert_empty OFFICIAL_CONFIG - members
    assert_equal ["", "http://localhost:4040", 100, "error", true, false, true, {}, {}], defaults
    assert_empty missing
    assert_empty missing_rust
    assert_nil engine, "Pyroscope::Engine must exist only when Rails is loaded"
  end

  def test_official_calls_tag_samples_and_own_frames_are_hidden
    samples = samples_in(run_workload("compat"))
    names = samples.flat_map(&:functions).uniq
    assert_empty names.grep(/Pyroscope/), "the gem's own frames leaked into stacks"

    # Samples taken inside tag_wrapper's plumbing belong to its caller, and
    # the builtin methods that plumbing calls are hidden with it.
    loop_samples = with_function(samples, "Workload#tag_loop")
    assert_operator weight(loop_samples), :>=, 50
    leaves = loop_samples.map { |s| s.functions.first }.uniq
    allowed = ["Workload#tag_loop", "block in Workload#tag_loop", "Work.cpu_now", "Process.clock_gettime"]
    assert_empty leaves - allowed, "unexpected leaves under tag_loop"

    { "Workload#work_main" => { "outer" => "1" },
      "Workload#work_a" => { "via" => "rust" },
      "Workload#work_b" => { "profile_id" => "abc" },
      "Workload#work_untagged" => {} }.each do |fn, want|
      got = with_function(samples, fn)
      assert_operator weight(got), :>=, 20, "too few samples in #{fn}"
      wrong = got.reject { |s| s.labels == want }
      assert_operator weight(wrong), :<=, 2, "#{fn}: #{wrong.map(&:labels).uniq.inspect}"
    end
  end
end
