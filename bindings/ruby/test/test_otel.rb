# frozen_string_literal: true

require_relative "test_helper"
require "json"
require "pyroscope"

# Span profiles (issue 18).  opentelemetry-sdk is not packaged by Debian and
# RubyGems.org is out of reach, so the processor is driven through the
# interface the SDK calls (see test/workloads/otel.rb).
class TestOtel < Minitest::Test
  include ProfileHelpers

  ROOT_ID = "abcdef0123456789"
  CHILD_ID = "1111222233334444"

  def spans
    JSON.parse(@last_output.lines.grep(/\A\{/).last)
  end

  # In 0.3 s at 100 Hz a function gets ~30 samples; a couple may fall on
  # either side of a span boundary.
  def assert_only(samples, fn, want)
    got = with_function(samples, fn)
    assert_operator weight(got), :>=, 15, "too few samples in #{fn}"
    wrong = got.reject { |s| s.labels == want }
    assert_operator weight(wrong), :<=, 2, "#{fn}: #{wrong.map(&:labels).uniq.inspect}"
  end

  def test_root_span_labels_samples_and_gets_profile_id
    samples = samples_in(run_workload("otel"))
    root = { "span_id" => ROOT_ID, "span_name" => "GET /checkout" }
    assert_only samples, "Workload#work_a", root
    # A child span is not labelled: its samples keep the root's labels.
    assert_only samples, "Workload#work_inner", root
    assert_only samples, "Workload#work_b", root
    assert_only samples, "Workload#work_untagged", {}
    s = spans
    assert_equal ROOT_ID, s["root"]["pyroscope.profile.id"]
    assert_match(/span_id%3D%22#{ROOT_ID}%22/, s["root"]["pyroscope.profile.url"])
    assert_empty s["child"], "only the root span gets attributes"
    assert_equal [0, 0], [s["flush"], s["shutdown"]]
    assert_empty samples.flat_map(&:functions).uniq.grep(/\APyroscope/)
  end

  # The push API: span labels are pprof labels of the samples, not series
  # labels (one series per window, not per span).
  def test_push_api_labels_samples_not_series
    samples = samples_in(run_workload("otel", { "API" => "push" }, http: true))
    refute_empty requests
    assert(requests.none? { |r| r.labels.key?("span_id") || r.labels.key?("span_name") },
           requests.map(&:labels).inspect)
    root = { "span_id" => ROOT_ID, "span_name" => "GET /checkout" }
    assert_only samples, "Workload#work_a", root
    assert_only samples, "Workload#work_inner", root
    assert_only samples, "Workload#work_untagged", {}
  end

  # /ingest: the core records no spans there, so the processor falls back
  # to thread tags, which become series labels as with the official gem.
  def test_ingest_api_falls_back_to_thread_tags
    samples = samples_in(run_workload("otel", { "API" => "ingest" }, http: true))
    assert(requests.all? { |r| r.path == "/ingest" }, requests.map(&:path).uniq.inspect)
    names = requests.map { |r| r.query["name"] }
    assert(names.any? { |n| n.include?("span_id=#{ROOT_ID}") }, names.inspect)
    root = { "span_id" => ROOT_ID, "span_name" => "GET /checkout" }
    assert_only samples, "Workload#work_a", root
    assert_only samples, "Workload#work_inner", root
    assert_only samples, "Workload#work_untagged", {}
    assert_equal ROOT_ID, spans["root"]["pyroscope.profile.id"]
  end

  # A span finished on another thread ends on its own thread only (the
  # finishing thread keeps its span), and an out-of-order finish hands the
  # label to the span still open.
  def test_cross_thread_and_out_of_order_finishes
    samples = samples_in(run_workload("otel_threads"))
    assert_only samples, "Workload#work_child", { "span_id" => "00000000000000bb", "span_name" => "worker-op" }
    assert_only samples, "Workload#work_main", { "span_id" => "00000000000000aa", "span_name" => "main-op" }
    assert_only samples, "Workload#work_untagged", {}
    assert_only samples, "Workload#work_inner", { "span_id" => "00000000000000cc", "span_name" => "job" }
    assert_only samples, "Workload#work_b", { "span_id" => "00000000000000dd", "span_name" => "GET /inner" }
    assert_only samples, "Workload#work_parent", {}
    s = spans
    assert_equal [0, 0], [s["worker_depth"], s["main_depth"]]
    assert_equal "00000000000000dd", s["inner"]["pyroscope.profile.id"], "a local root gets attributes"
    assert_equal "00000000000000bb", s["worker"]["pyroscope.profile.id"]
  end

  # Samples with the GVL released (zlib) come from the core's signal
  # handler on the same thread, with the core's span.
  def test_native_samples_in_a_span
    samples = samples_in(run_workload("otel_native"))
    native = samples.select { |s| s.functions.include?("deflate") && s.functions.none? { |f| f.include?("#") } }
    inside = native.select { |s| s.labels["phase"] == "in" }
    outside = native.select { |s| s.labels["phase"] == "out" }
    assert_operator weight(inside), :>=, 15, "no native samples in the span"
    assert_operator weight(outside), :>=, 15, "no native samples after the span"
    span = { "phase" => "in", "span_id" => "0123456789abcdef", "span_name" => "compress" }
    wrong = inside.reject { |s| s.labels == span }
    assert_operator weight(wrong), :<=, 2, wrong.map(&:labels).uniq.inspect
    wrong = outside.reject { |s| s.labels == { "phase" => "out" } }
    assert_operator weight(wrong), :<=, 2, wrong.map(&:labels).uniq.inspect
  end

  def test_every_span_when_root_span_only_is_off
    samples = samples_in(run_workload("otel", { "ROOT_ONLY" => "0" }))
    root = { "span_id" => ROOT_ID, "span_name" => "GET /checkout" }
    assert_only samples, "Workload#work_a", root
    assert_only samples, "Workload#work_inner", { "span_id" => CHILD_ID, "span_name" => "db" }
    # The root is current again once the child has ended.
    assert_only samples, "Workload#work_b", root
    assert_only samples, "Workload#work_untagged", {}
    assert_equal CHILD_ID, spans["child"]["pyroscope.profile.id"]
  end
end

# Native.span_* without a profiler: the per-thread bookkeeping.
# In this process, from the repo build or the installed gem (LOAD_FLAGS).
class TestSpanNative < Minitest::Test
  N = Pyroscope::Native

  def setup
    N.span_end while N.span_depth.positive?
  end

  def test_nesting_and_span_end
    a = N.span_begin(1, "a")
    b = N.span_begin(2)
    assert_equal 2, N.span_depth
    assert N.span_end
    assert_equal 1, N.span_depth
    refute N.span_finish(b), "b was ended by span_end"
    assert N.span_finish(a)
    refute N.span_finish(a), "a second finish is a no-op"
    refute N.span_end
    assert_equal 0, N.span_depth
  end

  def test_out_of_order_finish
    a = N.span_begin(1, "a")
    b = N.span_begin(2, "b")
    assert N.span_finish(a)
    assert_equal 1, N.span_depth
    assert N.span_finish(b)
    assert_equal 0, N.span_depth
  end

  def test_finish_on_another_thread_leaves_both_threads_right
    mine = N.span_begin(10, "mine")
    to_main = Queue.new
    to_worker = Queue.new
    t = Thread.new do
      h = N.span_begin(20, "theirs")
      to_main << h
      to_worker.pop
      N.span_depth
    end
    theirs = to_main.pop
    assert N.span_finish(theirs)
    assert_equal 1, N.span_depth, "the finishing thread keeps its own span"
    to_worker << :go
    assert_equal 0, t.value, "the worker's span is gone at its next call"
    assert N.span_finish(mine)
  end

  def test_finish_after_the_thread_ended
    h = Thread.new { N.span_begin(30, "gone") }.value
    N.span_finish(h) # no-op or a mark on a dead thread's state; no crash
    assert_equal 0, N.span_depth
  end

  def test_bad_ids
    assert_raises(ArgumentError) { N.span_begin(0) }
    assert_raises(ArgumentError) { N.span_begin(-1) }
    assert_raises(ArgumentError) { N.span_begin(2**64) }
    assert_raises(ArgumentError) { N.span_begin("1") }
    h = N.span_begin(2**64 - 1, "max")
    assert N.span_finish(h)
  end

  def test_too_many_open_spans
    hs = Array.new(16) { |i| N.span_begin(i + 1) }
    assert(hs.all?)
    assert_nil N.span_begin(99)
    hs.reverse_each { |h| assert N.span_finish(h) }
    assert_equal 0, N.span_depth
  end
end
