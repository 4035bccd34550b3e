# frozen_string_literal: true

# Cost of heap + lock profiling in a Ruby process: the allocation- and
# GVL-heavy part of test/workloads/heap_lock.rb (four threads making 4 KiB
# strings and passing the GVL) run as a child process, plain and under the
# zero-code agent with PYROSCOPE_PROFILE_TYPES=heap,lock, in interleaved
# pairs in one run.  Reports the median ratio of the children's CPU time
# (user + sys, every thread, the agent's own threads included) and of wall
# time.
#
#   ruby bench/heap_lock.rb [--rounds 7] [--strings 40000] [--lib PATH]
require "optparse"
require "rbconfig"
require "tmpdir"

root = File.expand_path("..", __dir__)
opts = { rounds: 7, strings: 40_000,
         lib: File.join(root, "ext", "pyroscope", "pyroscope-core-build", "libpyroscope.so") }
OptionParser.new do |o|
  o.on("--rounds N", Integer) { |v| opts[:rounds] = v }
  o.on("--strings N", Integer, "strings per thread") { |v| opts[:strings] = v }
  o.on("--lib PATH", "libpyroscope.so") { |v| opts[:lib] = v }
end.parse!
abort "no #{opts[:lib]} (cmake --build ext/pyroscope/pyroscope-core-build --target pyroscope)" unless File.file?(opts[:lib])

WORK = <<~'RUBY'
  rounds = Integer(ARGV[0]); q = Queue.new
  ts = Array.new(4) { Thread.new { keep = []; rounds.times { |i| keep << ("x" * 4096); keep.shift if keep.size > 64; Thread.pass if (i % 64).zero?; q << i if (i % 256).zero? } } }
  c = Thread.new { loop { q.pop } }; ts.each(&:join); c.kill
RUBY

def measure(env, n)
  t0 = Process.times
  w0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  system(env, RbConfig.ruby, "-e", WORK, n.to_s, exception: true)
  w = Process.clock_gettime(Process::CLOCK_MONOTONIC) - w0
  t1 = Process.times
  [(t1.cutime - t0.cutime) + (t1.cstime - t0.cstime), w]
end

def median(a) = a.sort[a.size / 2]

Dir.mktmpdir("pyroscope-heaplock-bench") do |dir|
  agent = { "LD_PRELOAD" => opts[:lib], "PYROSCOPE_APPLICATION_NAME" => "bench.heaplock",
            "PYROSCOPE_SERVER_ADDRESS" => "file://#{dir}", "PYROSCOPE_PROFILE_TYPES" => "heap,lock" }
  cpu = []
  wall = []
  opts[:rounds].times do |i|
    # Alternate which one goes first so drift on a busy machine cancels.
    a, b = i.even? ? [{}, agent] : [agent, {}]
    ra = measure(a, opts[:strings])
    rb = measure(b, opts[:strings])
    plain, prof = i.even? ? [ra, rb] : [rb, ra]
    cpu << prof[0] / plain[0]
    wall << prof[1] / plain[1]
  end
  printf("heap+lock agent vs plain, %d pairs of %d x 4 x 4 KiB strings: CPU ratio median %.3f " \
         "(min %.3f max %.3f), wall ratio median %.3f\n",
         opts[:rounds], opts[:strings], median(cpu), cpu.min, cpu.max, median(wall))
end
