# frozen_string_literal: true

require_relative "test_helper"
require "base64"
require "pyroscope/version"

class TestUpload < Minitest::Test
  include ProfileHelpers

  # The default, like the official gem: the push API, with its labels.
  def test_push_labels_like_the_official_gem
    samples = samples_in(run_workload("upload", { "AUTH" => "bearer", "API" => "push" }, http: true))
    r = requests.first
    assert_equal "POST", r.method
    assert_equal "/push.v1.PusherService/Push", r.path
    assert_equal "process_cpu", r.labels["__name__"]
    assert_equal "ruby.upload", r.labels["service_name"]
    assert_equal "test", r.labels["env"]
    assert_equal "com.grafana.pyroscope/ruby", r.labels["otel.scope.name"]
    assert_equal Pyroscope::VERSION, r.labels["otel.scope.version"]
    assert_equal RUBY_ENGINE, r.labels["process.runtime.name"]
    assert_equal RUBY_ENGINE_VERSION, r.labels["process.runtime.version"]
    assert_equal "Bearer tok123", r.headers["authorization"]
    assert_equal "tenant-a", r.headers["x-scope-orgid"]
    assert_operator weight(with_function(samples, "Workload#work_main")), :>=, 15
  end

  def test_ingest_with_bearer_token_tenant_and_headers
    samples = samples_in(run_workload("upload", { "AUTH" => "bearer", "API" => "ingest" }, http: true))
    r = requests.first
    assert_equal "POST", r.method
    assert_equal "/ingest", r.path
    assert_equal "ruby.upload{env=test}", r.query["name"]
    assert_equal "rbspy", r.query["spyName"]
    assert_nil r.query["format"] # multipart body: format=pprof would be a 422
    assert_equal "100", r.query["sampleRate"]
    assert_equal "Bearer tok123", r.headers["authorization"]
    assert_equal "tenant-a", r.headers["x-scope-orgid"]
    assert_equal "yes", r.headers["x-extra"]
    assert_operator weight(with_function(samples, "Workload#work_main")), :>=, 15
  end

  def test_ingest_with_basic_auth
    run_workload("upload", { "AUTH" => "basic", "API" => "ingest" }, http: true)
    r = requests.first
    assert_equal "Basic #{Base64.strict_encode64('user:pw')}", r.headers["authorization"]
  end
end
