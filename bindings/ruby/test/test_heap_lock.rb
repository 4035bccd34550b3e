# frozen_string_literal: true

require_relative "test_helper"
require "timeout"

# Heap + lock profiling on in a Ruby process (issue 14's binding item).  A
# dlopen'ed extension cannot interpose the VM's malloc or pthread calls, so
# heap and lock profiles come from the zero-code agent (LD_PRELOAD
# libpyroscope.so, PYROSCOPE_PROFILE_TYPES=heap,lock) while the gem takes
# the CPU profile; the test checks that the two together neither deadlock
# nor distort the profiles.  The cost is measured in bench/heap_lock.rb.
class TestHeapLock < Minitest::Test
  include ProfileHelpers

  CORE_BUILD = File.join(ROOT, "ext", "pyroscope", "pyroscope-core-build")
  DEADLINE_S = 300 # a deadlock shows as a hang: generous for a loaded CI

  def agent
    lib = File.join(CORE_BUILD, "libpyroscope.so")
    unless File.file?(lib)
      ok = system("cmake", "--build", CORE_BUILD, "--target", "pyroscope", "-j", "2",
                  out: File::NULL, err: File::NULL)
      skip "no core build dir to make libpyroscope.so in (#{CORE_BUILD})" unless ok || File.file?(lib)
    end
    lib
  end

  def run_under_agent(dir)
    env = { "LD_PRELOAD" => agent, "PYROSCOPE_APPLICATION_NAME" => "ruby.agent",
            "PYROSCOPE_SERVER_ADDRESS" => "file://#{dir}", "PYROSCOPE_PROFILE_TYPES" => "heap,lock,block" }
    script = File.join(ROOT, "test", "workloads", "heap_lock.rb")
    out = +""
    status = nil
    Open3.popen2e(env, RbConfig.ruby, *LOAD_FLAGS, script, dir) do |_in, io, th|
      reader = Thread.new { out << io.read }
      unless th.join(DEADLINE_S)
        Process.kill("KILL", th.pid)
        flunk "heap+lock run did not finish in #{DEADLINE_S} s (deadlock?):\n#{out}"
      end
      reader.join
      status = th.value
    end
    assert status.success?, "workload failed (#{status.inspect}):\n#{out}"
    out
  end

  def totals(samples, index)
    samples.sum { |s| s.values[index] || 0 }
  end

  def test_heap_and_lock_with_the_gem_cpu_profile
    dir = Dir.mktmpdir("pyroscope-rb-heaplock-")
    out = run_under_agent(dir)
    known = Integer(out[/allocated=(\d+)/, 1])

    mem = Dir[File.join(dir, "ruby.agent.memory.*")].flat_map { |f| Pprof.read(f).samples }
    refute_empty mem, "no memory profile from the agent: #{Dir.children(dir)}"
    # alloc_space (index 1) of the strings the workload made: the estimate
    # is unbiased; 15% is several standard deviations at 512 KiB sampling.
    strings = mem.select { |s| s.functions.include?("rb_str_times") }
    est = totals(strings, 1)
    assert_in_delta 1.0, est.to_f / known, 0.15, "estimated #{est} B of #{known} B"

    # Go's meaning: `mutex` charges the waiting to the holder's stack at
    # unlock (the GVL's release), `block` to each waiter's stack.
    mutex = Dir[File.join(dir, "ruby.agent.mutex.*")].flat_map { |f| Pprof.read(f).samples }
    held = mutex.select { |s| s.functions.any? { |f| f.start_with?("rb_native_mutex_unlock", "pthread_mutex_unlock") } }
    assert_operator totals(held, 0), :>=, 1, "no mutex contention charged to a holder: #{mutex.map(&:functions).first(3)}"
    block = Dir[File.join(dir, "ruby.agent.block.*")].flat_map { |f| Pprof.read(f).samples }
    waits = block.select { |s| s.functions.any? { |f| f.start_with?("rb_native_mutex_lock", "pthread_mutex_lock", "pthread_cond_") } }
    assert_operator totals(waits, 0), :>=, 1, "no waiter in the block profile: #{block.map(&:functions).first(3)}"

    cpu = Dir[File.join(dir, "ruby.heaplock.cpu.*")].flat_map { |f| Pprof.read(f).samples }
    heavy = weight(with_function(cpu, "Workload#heavy"))
    light = weight(with_function(cpu, "Workload#light"))
    assert_operator heavy + light, :>=, 150, "too few CPU samples"
    assert_in_delta 75.0, 100.0 * heavy / (heavy + light), 3.0, "heavy #{heavy}, light #{light}"
  end
end
