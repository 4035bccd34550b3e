# frozen_string_literal: true

require_relative "test_helper"

class TestTags < Minitest::Test
  include ProfileHelpers

  def assert_tagged(samples, fn, expected, min: 20)
    got = with_function(samples, fn)
    assert_operator weight(got), :>=, min, "too few samples in #{fn}"
    wrong = got.reject { |s| expected.all? { |k, v| s.labels[k] == v } }
    # Allow a sample or two at a phase boundary.
    assert_operator weight(wrong), :<=, [2, weight(got) / 50].max,
                    "#{fn}: expected #{expected}, got #{wrong.map(&:labels).uniq.inspect}"
  end

  def test_tags_follow_threads
    samples = samples_in(run_workload("threads", http: true))
    assert_tagged samples, "Workload#work_a", { "worker" => "a", "static" => "yes" }
    assert_tagged samples, "Workload#work_b", { "worker" => "b", "static" => "yes" }
    assert_tagged samples, "Workload#work_inner", { "worker" => "main", "phase" => "inner" }
    main = with_function(samples, "Workload#work_main")
    assert main.all? { |s| s.labels["worker"] == "main" && !s.labels.key?("phase") },
           main.map(&:labels).uniq.inspect
    # Pyroscope.tag / remove_tags on the main thread, after the threads.
    tagged = samples.select { |s| s.labels["worker"] == "tagged" }
    assert_operator weight(tagged), :>=, 10
    # A sample or two may land in Pyroscope.remove_tags itself.
    stray = tagged.reject { |s| s.functions.include?("Workload#work_tagged") }
    assert_operator weight(stray), :<=, 2, stray.map(&:functions).inspect
    untagged = with_function(samples, "Workload#work_untagged")
    assert_operator weight(untagged), :>=, 10
    assert untagged.all? { |s| s.labels == { "static" => "yes" } }, untagged.map(&:labels).uniq.inspect
  end

  # report_thread_id (official gem setting): thread_id=<OS thread id>.
  def test_report_thread_id
    samples = samples_in(run_workload("threads", { "REPORT_TID" => "1" }))
    ids = %w[work_a work_b work_main].to_h do |fn|
      got = with_function(samples, "Workload##{fn}")
      assert_operator weight(got), :>=, 20, "too few samples in #{fn}"
      [fn, got.map { |s| s.labels["thread_id"] }.uniq]
    end
    ids.each_value { |v| assert_equal 1, v.size, ids.inspect }
    assert_equal 3, ids.values.flatten.uniq.size, ids.inspect
    assert ids.values.flatten.all? { |v| v.match?(/\A\d+\z/) }, ids.inspect
    # Off by default.
    plain = samples_in(run_workload("threads"))
    assert plain.none? { |s| s.labels.key?("thread_id") }
  end

  def test_tags_follow_fibers
    samples = samples_in(run_workload("fibers"))
    assert_tagged samples, "Workload#work_a", { "fiber" => "a" }
    assert_tagged samples, "Workload#work_b", { "fiber" => "b" }
    main = with_function(samples, "Workload#work_main")
    assert main.none? { |s| s.labels.key?("fiber") }, main.map(&:labels).uniq.inspect
  end
end

class TestNativeTags < Minitest::Test
  include ProfileHelpers

  def test_gvl_released_samples_keep_thread_tags
    samples = samples_in(run_workload("native"))
    native = samples.select { |s| s.functions.include?("deflate") && s.functions.none? { |f| f.include?("#") } }
    assert_operator weight(native), :>=, 20, "no native deflate samples"
    wrong = native.reject { |s| s.labels == { "job" => "compress" } }
    assert_operator weight(wrong), :<=, 2, wrong.map(&:labels).uniq.inspect
  end
end
