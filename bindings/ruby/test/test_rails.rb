# frozen_string_literal: true

require_relative "test_helper"

# Pyroscope::Engine with a real Rails (Debian's ruby-railties).
class TestRails < Minitest::Test
  include ProfileHelpers

  def setup
    skip "railties is not installed" unless system(RbConfig.ruby, "-e", 'require "rails"', err: File::NULL)
  end

  def test_engine_tags_controller_actions
    samples = samples_in(run_workload("rails_app"))
    assert_includes @last_output, "engine=true"
    assert_includes @last_output, "users=users product=product"
    { "Workload#work_a" => "users/index", "Workload#work_b" => "products/show" }.each do |fn, action|
      got = with_function(samples, fn)
      assert_operator weight(got), :>=, 20, "too few samples in #{fn}"
      wrong = got.reject { |s| s.labels["action"] == action }
      assert_operator weight(wrong), :<=, 2, "#{fn}: #{wrong.map(&:labels).uniq.inspect}"
    end
    untagged = with_function(samples, "Workload#work_untagged")
    assert untagged.none? { |s| s.labels.key?("action") }, untagged.map(&:labels).uniq.inspect
    assert_empty samples.flat_map(&:functions).uniq.grep(/\APyroscope/)
  end

  def test_autoinstrument_rails_false_leaves_actions_untagged
    samples = samples_in(run_workload("rails_app", { "RAILS_OFF" => "1", "RAILS_A" => "0.3", "RAILS_B" => "0.1" }))
    got = with_function(samples, "Workload#work_a")
    assert_operator weight(got), :>=, 10
    assert got.none? { |s| s.labels.key?("action") }, got.map(&:labels).uniq.inspect
  end
end
