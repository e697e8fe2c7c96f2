#pragma once

#include "web/http_session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace tasker::web {

/// The accept loop of an `HttpServer` (an implementation detail of it):
/// starts a session per connection, on each of the server's io_contexts in
/// turn, and shuts them all down on `stop`. All its work runs on the
/// strand of its acceptor.
class HttpListener : public std::enable_shared_from_this<HttpListener> {
 public:
  /// `acceptor` listens already; connections are served on `contexts` (at
  /// least one), which outlive the listener.
  HttpListener(std::vector<boost::asio::io_context*> contexts,
               boost::asio::ip::tcp::acceptor acceptor,
               std::shared_ptr<const HttpSession::Settings> settings);

  /// Starts accepting connections.
  void start();

  /// Thread-safe. Closes the acceptor and shuts every session down, then
  /// calls `stopped` on the acceptor's strand: no session starts after it.
  /// The io_contexts run out of work once the requests under way are
  /// answered.
  void stop(std::function<void()> stopped);

 private:
  void accept();
  void on_accept(boost::beast::error_code ec,
                 boost::asio::ip::tcp::socket socket);

  std::vector<boost::asio::io_context*> contexts_;
  // The io_context of the next connection.
  std::size_t next_context_ = 0;
  boost::asio::ip::tcp::acceptor acceptor_;
  // Delays the next accept after a failure such as "too many open files",
  // which would otherwise fail again at once, in a busy loop.
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<const HttpSession::Settings> settings_;
  std::vector<std::weak_ptr<HttpSession>> sessions_;
  bool stopping_ = false;
};

} // namespace tasker::web
