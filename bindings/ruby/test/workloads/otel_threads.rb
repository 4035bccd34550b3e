# frozen_string_literal: true

# Spans that finish on another thread, and out of order (see otel_fakes.rb
# for the stand-in SDK objects).  Threads hand over with Queues, so only
# one of them burns CPU at a time.
#   main: root "main-op" open throughout steps 1-3.
#   1. worker: root "worker-op", work_child; then waits.
#   2. main finishes "worker-op" (cross-thread), then work_main.
#   3. worker: work_untagged (its span was ended by main).
#   4. main ends "main-op"; root "job", and under a remote parent a local
#      root "GET /inner": work_inner; "job" finishes first: work_b; then
#      "GET /inner": work_parent.
# Prints the open span counts of both threads as JSON.
require "json"
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.otel")
require "pyroscope/otel"
require_relative "otel_fakes"

sp = Pyroscope::Otel::SpanProcessor.new
w = Workload.new
to_main = Queue.new
to_worker = Queue.new

main_op = FakeSpan.new("main-op", 0x00000000000000aa, nil)
sp.on_start(main_op, nil)

worker_op = FakeSpan.new("worker-op", 0x00000000000000bb, nil, trace: 2)
worker_depth = nil
worker = Thread.new do
  sp.on_start(worker_op, nil)
  w.work_child(0.4)
  to_main << :started
  to_worker.pop
  w.work_untagged(0.4)
  worker_depth = Pyroscope::Native.span_depth
end

to_main.pop
sp.on_finish(worker_op) # on main, not on the worker
w.work_main(0.4)
to_worker << :go
worker.join
sp.on_finish(main_op)

job = FakeSpan.new("job", 0x00000000000000cc, nil, trace: 3)
sp.on_start(job, nil)
remote = FakeSpan.new("upstream", 0x00000000000000ee, nil, remote: true, trace: 4)
inner = FakeSpan.new("GET /inner", 0x00000000000000dd, 0xee, trace: 4)
sp.on_start(inner, { span: remote })
w.work_inner(0.3)
sp.on_finish(job)
w.work_b(0.3)
sp.on_finish(inner)
w.work_parent(0.3)

puts JSON.dump(worker_depth: worker_depth, main_depth: Pyroscope::Native.span_depth,
               inner: inner.attributes, worker: worker_op.attributes)
Pyroscope.shutdown
