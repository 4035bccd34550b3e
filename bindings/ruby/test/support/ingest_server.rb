# frozen_string_literal: true

require "socket"
require "uri"

# A minimal Pyroscope /ingest endpoint on 127.0.0.1 for the tests: accepts
# multipart/form-data (field "profile") or raw bodies and keeps every request.
class IngestServer
  Request = Struct.new(:method, :path, :query, :headers, :profile)

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
    @requests << Request.new(method, path, query, headers, profile_of(headers, body))
    sock.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  rescue StandardError => e
    warn "ingest server: #{e.class}: #{e.message}"
  ensure
    sock&.close
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
