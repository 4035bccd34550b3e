# frozen_string_literal: true

# 75% / 25% of thread CPU time between Workload#heavy and Workload#light,
# interleaved in short phases.
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.split")
w = Workload.new
total = Float(ENV.fetch("SPLIT_SECONDS", "4"))
cycle = 0.04
(total / cycle).round.times do
  w.heavy(cycle * 0.75)
  w.light(cycle * 0.25)
end
Pyroscope.shutdown
