# frozen_string_literal: true

require_relative "test_helper"
require "pyroscope"

# Preforking (Puma/Unicorn): a forked worker is either profiled under its own
# pid or cleanly off (no hang, no crash, parent unaffected).
class TestFork < Minitest::Test
  include ProfileHelpers

  def run_fork(mode)
    dir = run_workload("fork", { "FORK_MODE" => mode }, http: true)
    read = ->(f) { File.read(File.join(dir, f)) }
    [samples_in(dir), read.call("child.running"), read.call("child.pid"), read.call("parent.pid")]
  end

  def test_forked_worker_with_fork_mode_continue
    samples, running, child_pid, parent_pid = run_fork("continue")
    parent = with_function(samples, "Workload#work_parent")
    assert_operator weight(parent), :>=, 20
    assert parent.all? { |s| s.labels["pid"] == parent_pid }
    child = with_function(samples, "Workload#work_child")
    if Pyroscope::Native::CORE_FORK_AWARE
      assert_equal "true", running
      assert_operator weight(child), :>=, 30, "child not profiled"
      assert child.all? { |s| s.labels["pid"] == child_pid },
             "child samples carry pid #{child.map { |s| s.labels['pid'] }.uniq} (child #{child_pid})"
    else
      # The core cannot restart in a child yet (see CORE_REQUESTS.md): off.
      assert_equal "false", running
      assert_empty child
    end
  end

  def test_forked_worker_with_fork_mode_stop
    samples, running, = run_fork("stop")
    assert_equal "false", running
    assert_empty with_function(samples, "Workload#work_child")
    assert_operator weight(with_function(samples, "Workload#work_parent")), :>=, 20
  end
end
