# frozen_string_literal: true

# Shared CPU-bound workload for the test scripts.  Every method burns an
# exact amount of *thread* CPU time, so the expected split of a profile does
# not depend on the machine's speed or load.
module Work
  module_function

  def cpu_now
    Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
  end

  # `address` is an http:// server or a directory for file:// output.
  def setup_profiler(address, **extra)
    require "pyroscope"
    Pyroscope.configure do |c|
      c.application_name = extra.delete(:app) || "ruby.test"
      c.server_address = address.start_with?("http") ? address : "file://#{address}"
      c.sample_rate = Integer(ENV.fetch("PYROSCOPE_TEST_RATE", "100"))
      c.upload_interval = 60
      c.log_level = "warn"
      extra.each { |k, v| c[k] = v }
    end
  end
end

# Two methods with identical bodies; only the time they are given differs.
class Workload
  def heavy(secs)
    t_end = Work.cpu_now + secs
    x = 0
    while Work.cpu_now < t_end
      i = 0
      while i < 2000
        x += i
        i += 1
      end
    end
    x
  end

  def light(secs)
    t_end = Work.cpu_now + secs
    x = 0
    while Work.cpu_now < t_end
      i = 0
      while i < 2000
        x += i
        i += 1
      end
    end
    x
  end

  def work_a(secs) = burn(secs)
  def work_b(secs) = burn(secs)
  def work_main(secs) = burn(secs)
  def work_inner(secs) = burn(secs)
  def work_child(secs) = burn(secs)
  def work_parent(secs) = burn(secs)
  def work_tagged(secs) = burn(secs)
  def work_untagged(secs) = burn(secs)

  def burn(secs)
    t_end = Work.cpu_now + secs
    x = 0
    while Work.cpu_now < t_end
      i = 0
      while i < 2000
        x += i
        i += 1
      end
    end
    x
  end
end
