#pragma once

#include "core/result.hpp"
#include "web/http_server_options.hpp"
#include "web/router.hpp"

#include <cstdint>
#include <memory>

namespace tasker::web {

/// An HTTP/1.1 server (Boost.Beast) answering every request through a
/// `Router`, on `options.threads` threads, each with an io_context of its
/// own, plus one accepting connections, which go to the others in turn.
/// Handlers run on their connection's thread and may block it briefly (the
/// other connections of that thread wait meanwhile); a connection's
/// requests are answered one at a time, in order.
///
/// Every response carries `Content-Type`, `Content-Length` and
/// `Server: tasker`. A HEAD request is answered by the GET route of its path
/// (see `Router::dispatch`) with the headers of the GET response and no body.
/// A body over `max_body_bytes` is answered 413, malformed HTTP 400, and both
/// close the connection; with an API key, a request for a non-public path
/// without the key is answered 401.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, std::shared_ptr<const Router> router);

  /// Stops the server.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds, listens and starts the threads; logs "listening on HOST:PORT".
  /// Fails naming the address and the reason, e.g. "cannot listen on
  /// 127.0.0.1:8080: Address already in use", or naming the bad option.
  core::Result<void> start();

  /// Closes the acceptor and idle connections, lets the requests under way
  /// finish, and joins the threads. Idempotent; must not be called from a
  /// handler (it would wait for itself) nor concurrently with `start`.
  void stop();

  /// Returns the bound port (the free port chosen for port 0), or 0 before
  /// `start`.
  uint16_t port() const;

 private:
  // The io_context, listener and threads: Boost stays out of this header.
  struct Runtime;

  HttpServerOptions options_;
  std::shared_ptr<const Router> router_;
  std::unique_ptr<Runtime> runtime_;
  uint16_t port_ = 0;
};

} // namespace tasker::web
