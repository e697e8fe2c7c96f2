#include "web/http_session.hpp"

#include "core/logger.hpp"
#include "web/url_decoding.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cctype>

namespace tasker::web {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Bytes read (and dropped) at a time while waiting for the client to close.
constexpr std::size_t drain_chunk_bytes = 4096;

std::string lower_case(std::string_view text) {
  std::string out{text};
  std::ranges::transform(out, out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category()
         == http::make_error_code(http::error::bad_method).category();
}

} // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket,
                         std::shared_ptr<const Settings> settings)
    : stream_(std::move(socket)), settings_(std::move(settings)) {}

void HttpSession::start() {
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&HttpSession::read_request,
                                          shared_from_this()));
}

void HttpSession::shut_down() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->shutting_down_ = true;
    if (self->waiting_)
      self->stream_.cancel();
  });
}

void HttpSession::read_request() {
  if (shutting_down_)
    return close();
  parser_.emplace();
  parser_->body_limit(settings_->max_body_bytes);
  waiting_ = true;
  stream_.expires_after(settings_->request_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  waiting_ = false;
  if (ec == http::error::body_limit)
    return send(
        HttpResponse::error(413, "request body exceeds "
                                     + std::to_string(settings_->max_body_bytes)
                                     + " bytes"),
        11, false, false);
  if (ec && is_parse_error(ec) && ec != http::error::end_of_stream
      && ec != http::error::partial_message)
    return send(HttpResponse::error(400, "malformed HTTP request ("
                                             + ec.message() + ")"),
                11, false, false);
  // The client closed or stalled, or the server stops: nobody to answer.
  if (ec)
    return close();
  auto& beast_request = parser_->get();
  auto version = beast_request.version();
  bool keep_alive = beast_request.keep_alive();
  bool head = beast_request.method() == http::verb::head;
  HttpRequest request;
  if (auto refused = read_into(beast_request, request))
    return send(std::move(*refused), version, keep_alive, head);
  // A deferred route replies from another thread: the response is written
  // on this connection's strand (at once when already on it), and the
  // server keeps running until it is.
  auto strand = net::prefer(stream_.get_executor(),
                            net::execution::outstanding_work.tracked);
  settings_->router->dispatch(request, [self = shared_from_this(), strand,
                                        version, keep_alive,
                                        head](HttpResponse response) {
    net::dispatch(strand, [self, response = std::move(response), version,
                           keep_alive, head]() mutable {
      self->send(std::move(response), version, keep_alive, head);
    });
  });
}

std::optional<HttpResponse> HttpSession::read_into(BeastRequest& beast_request,
                                                   HttpRequest& request) const {
  request.method = std::string{beast_request.method_string()};
  std::string_view target{beast_request.target().data(),
                          beast_request.target().size()};
  if (target.empty() || target.front() != '/')
    return HttpResponse::error(400, "request target '" + std::string{target}
                                        + "' must start with '/'");
  auto question = target.find('?');
  request.path = std::string{target.substr(0, question)};
  if (question != std::string_view::npos) {
    auto query = parse_query(target.substr(question + 1));
    if (!query)
      return HttpResponse::error(400, "bad query: " + query.error().message());
    request.query = std::move(*query);
  }
  for (const auto& field : beast_request) {
    std::string value{field.value().data(), field.value().size()};
    auto [entry, inserted] = request.headers.emplace(
        lower_case({field.name_string().data(), field.name_string().size()}),
        value);
    if (!inserted)
      entry->second += ", " + value;
  }
  request.body = std::move(beast_request.body());
  if (!settings_->guard.allows(request))
    return HttpResponse::error(401, "missing or invalid API key");
  return std::nullopt;
}

void HttpSession::send(HttpResponse response, unsigned version, bool keep_alive,
                       bool head) {
  if (response.status < 100 || response.status > 599) {
    core::log_error("http", "a handler answered the invalid status "
                                + std::to_string(response.status));
    response = HttpResponse::error(500, "internal error");
  }
  response_ = {};
  response_.version(version);
  response_.result(static_cast<unsigned>(response.status));
  response_.set(http::field::server, "tasker");
  response_.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers)
    response_.insert(name, value);
  response_.keep_alive(keep_alive && !shutting_down_);
  // A HEAD response announces the length of the body it leaves out.
  response_.content_length(response.body.size());
  if (!head)
    response_.body() = std::move(response.body);
  stream_.expires_after(settings_->request_timeout);
  http::async_write(stream_, response_,
                    beast::bind_front_handler(&HttpSession::on_write,
                                              shared_from_this(),
                                              response_.keep_alive()));
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (ec || shutting_down_)
    return close();
  if (!keep_alive)
    return linger();
  read_request();
}

void HttpSession::linger() {
  // Closing with unread request bytes (say, the rest of a body over the
  // limit) would reset the connection and could destroy our response before
  // the client reads it: half-close, then drop what arrives until the
  // client closes.
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  stream_.expires_after(settings_->request_timeout);
  drain();
}

void HttpSession::drain() {
  waiting_ = true;
  stream_.async_read_some(
      buffer_.prepare(drain_chunk_bytes),
      [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->waiting_ = false;
        if (ec || self->shutting_down_)
          return self->close();
        self->drain();
      });
}

void HttpSession::close() {
  waiting_ = false;
  stream_.close();
}

} // namespace tasker::web
