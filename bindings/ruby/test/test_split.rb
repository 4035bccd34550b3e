# frozen_string_literal: true

require_relative "test_helper"

class TestSplit < Minitest::Test
  include ProfileHelpers

  def test_75_25_split_between_two_methods
    samples = samples_in(run_workload("split"))
    heavy = weight(with_function(samples, "Workload#heavy"))
    light = weight(with_function(samples, "Workload#light"))
    total = heavy + light
    assert_operator total, :>=, 250, "too few samples: #{total}"
    share = 100.0 * heavy / total
    assert_in_delta 75.0, share, 3.0, "heavy #{heavy}, light #{light}"
  end

  def test_ruby_frames_have_file_and_line
    samples = samples_in(run_workload("split", { "SPLIT_SECONDS" => "0.5" }))
    frame = samples.flat_map(&:frames).find { |f| f[0] == "Workload#heavy" }
    refute_nil frame, "no Workload#heavy frame"
    # Relative to the working directory, as the official gem reports it.
    assert_equal "test/workloads/work.rb", frame[1]
    assert_operator frame[2], :>, 0
    # Callers are recorded too, up to the script's top level.
    stack = with_function(samples, "Workload#heavy").first.functions
    assert_includes stack, "<main>"
  end
end
