# frozen_string_literal: true

# The official gem's calls, and the gem's own frames:
#   - Workload#tag_loop calls tag_wrapper with an empty block in a loop, so
#     many samples land inside the gem's Ruby code (hidden from stacks);
#   - Pyroscope::Rust.add_thread_tag / remove_thread_tag around work_a;
#   - Pyroscope._add_tags(thread_id, tags) / _remove_tags (pyroscope-otel)
#     around work_b; work_untagged after both.
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.compat")

class Workload
  def tag_loop(secs)
    t_end = Work.cpu_now + secs
    Pyroscope.tag_wrapper({ "loop" => "yes" }) {} while Work.cpu_now < t_end
  end
end

w = Workload.new
w.tag_loop(1.0)
Pyroscope.tag_wrapper({ "outer" => "1" }) { w.work_main(0.4) }
Pyroscope::Rust.add_thread_tag("via", "rust")
w.work_a(0.4)
Pyroscope::Rust.remove_thread_tag("via", "rust")
Pyroscope._add_tags(Pyroscope.thread_id, { profile_id: "abc" })
w.work_b(0.4)
Pyroscope._remove_tags(Pyroscope.thread_id, { profile_id: "abc" })
w.work_untagged(0.4)
Pyroscope.shutdown
