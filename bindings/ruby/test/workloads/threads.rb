# frozen_string_literal: true

# Tags per thread: two threads with different tag_wrapper tags run
# concurrently with the main thread, which nests two scopes.
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.threads", tags: { "static" => "yes" },
                                     report_thread_id: ENV["REPORT_TID"] == "1")
w = Workload.new
ready = Queue.new
go = Queue.new
threads = %w[a b].map do |name|
  Thread.new do
    Pyroscope.tag_wrapper({ "worker" => name }) do
      ready << true
      go.pop
      w.public_send("work_#{name}", 1.5)
    end
  end
end
2.times { ready.pop }
2.times { go << true }
Pyroscope.tag_wrapper({ worker: "main" }) do
  Pyroscope.tag_wrapper({ phase: "inner" }) do
    w.work_inner(0.7)
  end
  w.work_main(0.7)
end
threads.each(&:join)
# Pyroscope.tag / remove_tags (non-block form).
Pyroscope.tag("worker" => "tagged")
w.work_tagged(0.3)
Pyroscope.remove_tags("worker")
w.work_untagged(0.3)
Pyroscope.shutdown
