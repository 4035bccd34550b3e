# frozen_string_literal: true

# Native code with the GVL released (zlib's deflate runs under rb_nogvl):
# those samples have no Ruby frames and take the core's per-thread scope,
# which must hold this thread's tags even after a child fiber used its own.
require_relative "work"
require "zlib"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.native")
data = Random.new(42).bytes(4_000_000)
t = Thread.new do
  Pyroscope.tag_wrapper({ "job" => "compress" }) do
    t_end = Work.cpu_now + 1.0
    while Work.cpu_now < t_end
      Fiber.new { Pyroscope.tag_wrapper({ "fiber" => "x" }) { Fiber.yield } }.tap(&:resume).resume
      Zlib::Deflate.deflate(data)
    end
  end
end
t.join
Pyroscope.shutdown
