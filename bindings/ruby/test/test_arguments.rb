# frozen_string_literal: true

require_relative "test_helper"
require "pyroscope"

# Bad arguments raise ArgumentError with a message naming the problem, and
# nothing is started.
class TestArguments < Minitest::Test
  def configure_error(&blk)
    e = assert_raises(ArgumentError) do
      Pyroscope.configure do |c|
        c.application_name = "ruby.args"
        c.server_address = "file:///tmp"
        blk.call(c)
      end
    end
    refute Pyroscope.running?
    e.message
  end

  def test_missing_application_name
    msg = configure_error { |c| c.application_name = "" }
    assert_match(/application_name is required/, msg)
  end

  def test_bad_sample_rate
    assert_match(/sample_rate must be an Integer from 1 to 10000/, configure_error { |c| c.sample_rate = 0 })
    assert_match(/sample_rate/, configure_error { |c| c.sample_rate = 20_000 })
    assert_match(/sample_rate/, configure_error { |c| c.sample_rate = "100" })
  end

  def test_bad_server_address
    assert_match(/server_address must be an http\(s\):\/\/ or file:\/\/ URL/,
                 configure_error { |c| c.server_address = "pyroscope:4040" })
    assert_match(/server_address/, configure_error { |c| c.server_address = 4040 })
  end

  def test_bad_static_tags
    assert_match(/tags must be a Hash/, configure_error { |c| c.tags = [1, 2] })
    assert_match(/tags/, configure_error { |c| c.tags = { "bad key" => "v" } })
    assert_match(/tags/, configure_error { |c| c.tags = { "k" => "a,b" } })
  end

  def test_bad_auth_and_headers
    assert_match(/auth_token must be a String/, configure_error { |c| c.auth_token = 123 })
    assert_match(/tenant_id must be a String/, configure_error { |c| c.tenant_id = :x })
    assert_match(/http_headers must be a Hash/, configure_error { |c| c.http_headers = "X-A: b" })
    assert_match(/invalid header name/, configure_error { |c| c.http_headers = { "bad header" => "v" } })
    assert_match(/line break/, configure_error { |c| c.http_headers = { "X-A" => "a\r\nX-B: c" } })
  end

  def test_bad_log_level_and_fork_mode
    assert_match(/log_level must be one of/, configure_error { |c| c.log_level = "loud" })
    assert_match(/fork_mode must be :continue or :stop/, configure_error { |c| c.fork_mode = :maybe })
    assert_match(/upload_interval/, configure_error { |c| c.upload_interval = -1 })
  end

  def test_tag_wrapper_arguments
    e = assert_raises(ArgumentError) { Pyroscope.tag_wrapper("k=v") { nil } }
    assert_match(/tags must be a Hash, got String/, e.message)
    e = assert_raises(ArgumentError) { Pyroscope.tag_wrapper({ "bad key" => "v" }) { nil } }
    assert_match(/tag_wrapper/, e.message)
    e = assert_raises(ArgumentError) { Pyroscope.tag_wrapper({ 1 => "v" }) { nil } }
    assert_match(/keys must be Strings or Symbols/, e.message)
    e = assert_raises(ArgumentError) { Pyroscope.tag_wrapper({ "k" => "{x}" }) { nil } }
    assert_match(/tag_wrapper/, e.message)
    assert_raises(ArgumentError) { Pyroscope.tag_wrapper({ "k" => "v" }) }
    assert_raises(ArgumentError) { Pyroscope.tag(nil) }
    assert_raises(ArgumentError) { Pyroscope.remove_tags(1) }
    assert_empty Pyroscope.current_tags
  end

  def test_tag_wrapper_restores_on_exception
    assert_raises(RuntimeError) do
      Pyroscope.tag_wrapper({ "k" => "v" }) do
        assert_equal({ "k" => "v" }, Pyroscope.current_tags)
        raise "boom"
      end
    end
    assert_empty Pyroscope.current_tags
  end

  def test_nested_scopes_merge_and_remove
    Pyroscope.tag_wrapper({ a: 1, b: 2 }) do
      Pyroscope.tag_wrapper({ b: nil, c: "3" }) do
        assert_equal({ "a" => "1", "c" => "3" }, Pyroscope.current_tags)
      end
      assert_equal({ "a" => "1", "b" => "2" }, Pyroscope.current_tags)
    end
    Pyroscope.tag(x: "y")
    assert_equal({ "x" => "y" }, Pyroscope.current_tags)
    Pyroscope.remove_tags(:x)
    assert_empty Pyroscope.current_tags
  end
end
