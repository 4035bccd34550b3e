# frozen_string_literal: true

require "socket"
require "uri"
require "zlib"
require_relative "pprof"

# A minimal Pyroscope endpoint on 127.0.0.1 for the tests: /ingest
# (multipart/form-data field "profile", or a raw body) and the push API
# (PusherService/Push: a protobuf PushRequest, one series per request from
# this SDK).  Keeps every request; `labels` are the push series labels.
class IngestServer
  Request = Struct.new(:method, :path, :query, :headers, :profile, :labels)

  attr_reader :requests

  def initialize
    @server = TCPServer.new("127.0.0.1", 0)
    @requests = Queue.new
    @thread = Thread.new { loop { handle(@server.accept) } }
  end

  def url
    "http://127.0.0.1:#{@server.addr[1]}"
  end

  def all
    out = []
    out << @requests.pop until @requests.empty?
    out
  end

  def close
    @thread.kill
    @server.close
  end

  private

  def handle(sock)
    line = sock.gets("\r\n") or return
    method, target, = line.split(" ")
    headers = {}
    while (h = sock.gets("\r\n")) && h != "\r\n"
      k, v = h.split(":", 2)
      headers[k.strip.downcase] = v.strip
    end
    sock.write("HTTP/1.1 100 Continue\r\n\r\n") if headers["expect"]&.casecmp?("100-continue")
    body = sock.read(headers.fetch("content-length", "0").to_i) || ""
    path, qs = target.split("?", 2)
    query = URI.decode_www_form(qs || "").to_h
    body = Zlib.gunzip(body) if headers["content-encoding"] == "gzip"
    req = Request.new(method, path, query, headers, nil, {})
    if path.end_with?("/push.v1.PusherService/Push")
      req.labels, req.profile = push_series(body.b)
    else
      req.profile = profile_of(headers, body)
    end
    @requests << req
    sock.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  rescue StandardError => e
    warn "ingest server: #{e.class}: #{e.message}"
  ensure
    sock&.close
  end

  # PushRequest{1: series{1: labels{1: name, 2: value}, 2: samples{1: raw}}}
  def push_series(body)
    labels = {}
    raw = nil
    Pprof::Wire.each_field(body) do |f, _, series|
      next unless f == 1

      Pprof::Wire.each_field(series) do |g, _, v|
        case g
        when 1
          pair = {}
          Pprof::Wire.each_field(v) { |h, _, x| pair[h] = x.dup.force_encoding("UTF-8") }
          labels[pair[1]] = pair[2].to_s
        when 2
          Pprof::Wire.each_field(v) { |h, _, x| raw = x if h == 1 }
        end
      end
    end
    [labels, raw]
  end

  def profile_of(headers, body)
    ctype = headers["content-type"].to_s
    m = ctype.match(/boundary="?([^";]+)"?/)
    return body unless ctype.start_with?("multipart/") && m

    body.b.split("--#{m[1]}").each do |part|
      head, data = part.split("\r\n\r\n", 2)
      next unless head&.include?('name="profile"') && data

      return data.sub(/\r\n\z/, "")
    end
    nil
  end
end
