# frozen_string_literal: true

# Upload to an HTTP server with auth settings taken from the environment.
require_relative "work"

extra = { tags: { "env" => "test" }, http_headers: { "X-Extra" => "yes" } }
case ENV.fetch("AUTH", "bearer")
when "bearer" then extra.merge!(auth_token: "tok123", tenant_id: "tenant-a")
when "basic" then extra.merge!(basic_auth_username: "user", basic_auth_password: "pw")
end
extra[:api] = ENV["API"].to_sym if ENV["API"]
Work.setup_profiler(ARGV.fetch(0), app: "ruby.upload", **extra)
Workload.new.work_main(0.3)
Pyroscope.shutdown
