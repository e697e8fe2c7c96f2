#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace tasker::web {

/// How an `HttpServer` listens and what it accepts.
struct HttpServerOptions {
  /// "HOST:PORT" ("[::1]:PORT" for IPv6); port 0 picks a free port.
  std::string bind_address = "127.0.0.1:8080";
  /// Threads running handlers and I/O, each serving its share of the
  /// connections; at least 1.
  std::size_t threads = 2;
  /// A larger request body is answered 413.
  std::size_t max_body_bytes = 1024 * 1024;
  /// Empty: no authentication.
  std::string api_key;
  /// Paths served without the API key.
  std::vector<std::string> public_paths
      = {"/health", "/health/ready", "/metrics"};
  /// How long reading one request or writing one response may take; a
  /// connection idle for longer is closed.
  std::chrono::seconds request_timeout{30};
};

} // namespace tasker::web
