# frozen_string_literal: true

# Sample app: 75% of the CPU under endpoint=/checkout, 25% under /search.
require "pyroscope"

Pyroscope.configure do |c|
  c.application_name = ENV.fetch("PYROSCOPE_APPLICATION_NAME", "docker.ruby")
  c.server_address = ENV.fetch("PYROSCOPE_SERVER_ADDRESS", "http://pyroscope:4040")
  c.tags = { "image" => "ruby" }
end

def burn(seconds)
  t_end = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) + seconds
  x = 0
  x += (1..500).sum while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) < t_end
  x
end

def checkout = burn(0.3)
def search = burn(0.1)

deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + Float(ENV.fetch("APP_SECONDS", "3600"))
while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
  Pyroscope.tag_wrapper({ "endpoint" => "/checkout" }) { checkout }
  Pyroscope.tag_wrapper({ "endpoint" => "/search" }) { search }
end
Pyroscope.shutdown
