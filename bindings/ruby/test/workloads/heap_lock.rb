# frozen_string_literal: true

# Heap and lock profiling on in a Ruby process: run under the zero-code
# agent (LD_PRELOAD=libpyroscope.so, PYROSCOPE_PROFILE_TYPES=heap,lock),
# which sees the VM's malloc/free and pthread mutexes, while the gem takes
# the CPU profile with Ruby frames.
#   - four threads allocate 4 KiB strings (malloc'd by rb_str_times) and
#     hand the GVL back and forth (Thread.pass, a Queue), so malloc/free
#     and the GVL's mutex are hit from several threads at once;
#   - then the main thread runs the 75/25 heavy/light split.
# Prints the bytes allocated in those strings.
#   ruby heap_lock.rb OUT_DIR [rounds]
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.heaplock")
rounds = Integer(ARGV.fetch(1, "20000"))
size = 4096
q = Queue.new
threads = Array.new(4) do
  Thread.new do
    keep = []
    rounds.times do |i|
      keep << ("x" * size)
      keep.shift if keep.size > 64
      Thread.pass if (i % 64).zero?
      q << i if (i % 256).zero?
    end
  end
end
consumer = Thread.new { loop { q.pop } }
threads.each(&:join)
consumer.kill
w = Workload.new
5.times do
  w.heavy(0.3)
  w.light(0.1)
end
Pyroscope.shutdown
puts "allocated=#{4 * rounds * size}"
