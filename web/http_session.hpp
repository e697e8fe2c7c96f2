#pragma once

#include "web/api_key_guard.hpp"
#include "web/router.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

namespace tasker::web {

/// One connection of an `HttpServer` (an implementation detail of it): reads
/// requests, answers them through the router and keeps the connection while
/// the client asks to. All its work runs on the strand of its socket, so its
/// state needs no locking.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  /// What all the sessions of one server share.
  struct Settings {
    std::shared_ptr<const Router> router;
    ApiKeyGuard guard;
    std::size_t max_body_bytes;
    std::chrono::seconds request_timeout;
  };

  /// `socket` must run on a strand.
  HttpSession(boost::asio::ip::tcp::socket socket,
              std::shared_ptr<const Settings> settings);

  /// Starts reading the first request.
  void start();

  /// Thread-safe. Closes the connection at once when it waits for a
  /// request, after the response to the request under way otherwise.
  void shut_down();

 private:
  using BeastRequest
      = boost::beast::http::request<boost::beast::http::string_body>;

  void read_request();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  /// Fills `request` from the parsed one; the response refusing it (bad
  /// target or query, missing API key), if any.
  std::optional<HttpResponse> read_into(BeastRequest& beast_request,
                                        HttpRequest& request) const;
  void send(HttpResponse response, unsigned version, bool keep_alive,
            bool head);
  void on_write(bool keep_alive, boost::beast::error_code ec,
                std::size_t bytes);
  void linger();
  void drain();
  void close();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<
      boost::beast::http::request_parser<boost::beast::http::string_body>>
      parser_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  std::shared_ptr<const Settings> settings_;
  // A read is pending that `shut_down` may cancel: for the next request, or
  // for the client to close after our last response.
  bool waiting_ = false;
  bool shutting_down_ = false;
};

} // namespace tasker::web
