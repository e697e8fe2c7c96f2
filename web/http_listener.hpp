#pragma once

#include "web/http_session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <vector>

namespace tasker::web {

/// The accept loop of an `HttpServer` (an implementation detail of it):
/// starts a session per connection and shuts them all down on `stop`. All
/// its work runs on the strand of its acceptor.
class HttpListener : public std::enable_shared_from_this<HttpListener> {
 public:
  /// `acceptor` listens already and runs on a strand of `io`.
  HttpListener(boost::asio::io_context& io,
               boost::asio::ip::tcp::acceptor acceptor,
               std::shared_ptr<const HttpSession::Settings> settings);

  /// Starts accepting connections.
  void start();

  /// Thread-safe. Closes the acceptor and shuts every session down; the
  /// io_context runs out of work once the requests under way are answered.
  void stop();

 private:
  void accept();
  void on_accept(boost::beast::error_code ec,
                 boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // Delays the next accept after a failure such as "too many open files",
  // which would otherwise fail again at once, in a busy loop.
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<const HttpSession::Settings> settings_;
  std::vector<std::weak_ptr<HttpSession>> sessions_;
  bool stopping_ = false;
};

} // namespace tasker::web
