# frozen_string_literal: true

require_relative "test_helper"

class TestFork < Minitest::Test
  include ProfileHelpers

  def test_forked_worker_keeps_profiling
    dir = run_workload("fork", "FORK_MODE" => "continue")
    assert_equal "true", File.read(File.join(dir, "child.running"))
    samples = samples_in(dir)
    child_pid = File.read(File.join(dir, "child.pid"))
    parent_pid = File.read(File.join(dir, "parent.pid"))
    child = with_function(samples, "Workload#work_child")
    assert_operator weight(child), :>=, 30, "child not profiled"
    assert child.all? { |s| s.labels["pid"] == child_pid },
           "child samples carry pid #{child.map { |s| s.labels['pid'] }.uniq} (child #{child_pid})"
    parent = with_function(samples, "Workload#work_parent")
    assert_operator weight(parent), :>=, 20
    assert parent.all? { |s| s.labels["pid"] == parent_pid }
  end

  def test_forked_worker_can_run_unprofiled
    dir = run_workload("fork", "FORK_MODE" => "stop")
    assert_equal "false", File.read(File.join(dir, "child.running"))
    samples = samples_in(dir)
    assert_empty with_function(samples, "Workload#work_child")
    assert_operator weight(with_function(samples, "Workload#work_parent")), :>=, 20
  end
end
