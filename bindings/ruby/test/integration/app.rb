# frozen_string_literal: true

# The program the real-server test profiles: 75% / 25% of thread CPU time
# between Workload#heavy (under endpoint=/checkout) and Workload#light
# (under endpoint=/search), in 300 ms / 100 ms phases.
#   ruby app.rb SERVER_URL APP_NAME [API] [SECONDS]
require_relative "../workloads/work"

url, app, api, secs = ARGV
require "pyroscope"
Pyroscope.configure do |c|
  c.application_name = app
  c.server_address = url
  c.log_level = "warn"
  c.tags = { "suite" => "ruby-integration" }
  c.api = api.to_sym if api && !api.empty? && Pyroscope::Config.members.include?(:api)
  c.upload_interval = 2
end
w = Workload.new
total = Float(secs || "6")
cycle = 0.4
(total / cycle).round.times do
  Pyroscope.tag_wrapper({ "endpoint" => "/checkout" }) { w.heavy(cycle * 0.75) }
  Pyroscope.tag_wrapper({ "endpoint" => "/search" }) { w.light(cycle * 0.25) }
end
ok = Pyroscope.flush(20)
Pyroscope.shutdown
puts "flushed=#{ok} stats=#{Pyroscope.stats.inspect}"
