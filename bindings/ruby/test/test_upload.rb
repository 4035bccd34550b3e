# frozen_string_literal: true

require_relative "test_helper"
require "base64"

class TestUpload < Minitest::Test
  include ProfileHelpers

  def test_ingest_with_bearer_token_tenant_and_headers
    samples = samples_in(run_workload("upload", { "AUTH" => "bearer" }, http: true))
    r = requests.first
    assert_equal "POST", r.method
    assert_equal "/ingest", r.path
    assert_equal "ruby.upload{env=test}", r.query["name"]
    assert_equal "pyroscope-ruby", r.query["spyName"]
    assert_nil r.query["format"] # multipart body: format=pprof would be a 422
    assert_equal "100", r.query["sampleRate"]
    assert_equal "Bearer tok123", r.headers["authorization"]
    assert_equal "tenant-a", r.headers["x-scope-orgid"]
    assert_equal "yes", r.headers["x-extra"]
    assert_operator weight(with_function(samples, "Workload#work_main")), :>=, 15
  end

  def test_ingest_with_basic_auth
    run_workload("upload", { "AUTH" => "basic" }, http: true)
    r = requests.first
    assert_equal "Basic #{Base64.strict_encode64('user:pw')}", r.headers["authorization"]
  end
end
