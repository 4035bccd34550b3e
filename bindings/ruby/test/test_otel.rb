# frozen_string_literal: true

require_relative "test_helper"
require "json"

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
