# frozen_string_literal: true

# Tags per Fiber: two fibers on one thread interleave, each inside its own
# tag_wrapper; a sample must carry the tags of the fiber that was running.
require_relative "work"

Work.setup_profiler(ARGV.fetch(0), app: "ruby.fibers")
w = Workload.new
fibers = { "a" => :work_a, "b" => :work_b }.map do |name, meth|
  Fiber.new do
    Pyroscope.tag_wrapper({ "fiber" => name }) do
      40.times do
        w.public_send(meth, 0.02)
        Fiber.yield
      end
    end
  end
end
40.times { fibers.each(&:resume) }
fibers.each { |f| f.resume if f.alive? }
w.work_main(0.3)
Pyroscope.shutdown
