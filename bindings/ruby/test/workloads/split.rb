# frozen_string_literal: true

# 75% / 25% of thread CPU time between Workload#heavy and Workload#light,
# interleaved in phases of 300 ms / 100 ms.  Phases are long next to the
# 10 ms sampling period so that the kernel tick (CPU timers fire on ticks)
# cannot alias with the phase pattern: each phase boundary costs at most
# one sample.
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.split")
w = Workload.new
total = Float(ENV.fetch("SPLIT_SECONDS", "4"))
cycle = 0.4
[(total / cycle).round, 1].max.times do
  w.heavy(cycle * 0.75)
  w.light(cycle * 0.25)
end
Pyroscope.shutdown
