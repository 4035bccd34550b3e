# frozen_string_literal: true

# Preforking server shape: the parent configures, then forks a worker.
# FORK_MODE=continue|stop.
require_relative "work"

mode = ENV.fetch("FORK_MODE", "continue").to_sym
Work.setup_profiler(ARGV.fetch(0), app: "ruby.fork", fork_mode: mode, report_pid: true)
w = Workload.new
w.work_parent(0.3)
pid = fork do
  w.work_child(1.0)
  File.write(File.join(ARGV.fetch(1), "child.pid"), Process.pid.to_s)
  File.write(File.join(ARGV.fetch(1), "child.running"), Pyroscope.running?.to_s)
  Pyroscope.shutdown
end
Process.wait(pid)
w.work_parent(0.3)
File.write(File.join(ARGV.fetch(1), "parent.pid"), Process.pid.to_s)
Pyroscope.shutdown
