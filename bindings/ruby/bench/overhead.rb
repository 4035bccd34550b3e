# frozen_string_literal: true

# Profiling overhead on a pure-Ruby workload, as a ratio against the same
# workload unprofiled, in one run.  Rounds alternate unprofiled/profiled in
# this process (the profiler is started and shut down around each profiled
# round, outside the timed part) and the medians are compared.  Both wall
# time and process CPU time (all threads: includes the core's collector and
# uploader) are reported; CPU time is the steadier one on a busy machine.
#
#   ruby -Ilib -Iext bench/overhead.rb [--rate 100] [--rounds 15] [--seconds 1]
require "optparse"
require "tmpdir"

opts = { rate: 100, rounds: 15, seconds: 1.0, server: nil }
OptionParser.new do |o|
  o.on("--rate HZ", Integer) { |v| opts[:rate] = v }
  o.on("--rounds N", Integer) { |v| opts[:rounds] = v }
  o.on("--seconds S", Float, "approximate length of one round") { |v| opts[:seconds] = v }
  o.on("--server URL", "default: file:// into a temp dir") { |v| opts[:server] = v }
end.parse!

require "pyroscope"

# A mixed pure-Ruby workload: recursion, blocks, hashes, strings.
module Bench
  module_function

  def fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)

  def words(n)
    h = Hash.new(0)
    n.times { |i| h["w#{i % 97}"] += i.to_s.size }
    h.values.sum
  end

  def sort_objects(n)
    Array.new(n) { |i| [i * 7919 % 1009, i.to_s] }.sort.map(&:last).join.size
  end

  def unit
    fib(20) + words(3000) + sort_objects(2000)
  end

  # [wall seconds, process CPU seconds]
  def run(iterations)
    w0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    c0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
    iterations.times { unit }
    [Process.clock_gettime(Process::CLOCK_MONOTONIC) - w0,
     Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - c0]
  end
end

def median(a) = a.sort[a.size / 2]

dir = Dir.mktmpdir("pyroscope-bench-")
server = opts[:server] || "file://#{dir}"
Bench.run(5) # warm up
probe = Bench.run(20)[1]
iterations = [(opts[:seconds] / (probe / 20)).round, 1].max

base = []
prof = []
samples = 0
job_ns = 0
opts[:rounds].times do
  base << Bench.run(iterations)
  Pyroscope.configure do |c|
    c.application_name = "ruby.bench"
    c.server_address = server
    c.sample_rate = opts[:rate]
    c.log_level = "error"
  end
  before = Pyroscope.stats
  prof << Bench.run(iterations)
  after = Pyroscope.stats
  samples += after[:recorded] - before[:recorded]
  job_ns += after[:job_ns] - before[:job_ns]
  Pyroscope.shutdown
end

def report(name, base, prof)
  b = median(base)
  p = median(prof)
  puts format("%-4s unprofiled median %.3f s (min %.3f) | profiled median %.3f s (min %.3f) | " \
              "ratio median %.4f, min/min %.4f", name, b, base.min, p, prof.min, p / b, prof.min / base.min)
end

puts format("ruby %s, %d Hz, %d rounds x %d iterations, %d Ruby samples recorded",
            RUBY_VERSION, opts[:rate], opts[:rounds], iterations, samples)
report("wall", base.map(&:first), prof.map(&:first))
report("cpu", base.map(&:last), prof.map(&:last))
# The binding's own cost, measured directly (steady even on a busy machine):
# thread CPU time spent taking and reporting Ruby stacks in postponed jobs.
profiled_cpu = prof.sum(&:last)
puts format("Ruby sample jobs: %.1f us/sample, %.3f%% of the profiled rounds' CPU time",
            samples.zero? ? 0 : job_ns / 1e3 / samples, 100.0 * job_ns / 1e9 / profiled_cpu)
