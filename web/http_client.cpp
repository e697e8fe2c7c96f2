#include "web/http_client.hpp"

#include "web/host_port.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace tasker::web {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t max_response_body_bytes = 8 * 1024 * 1024;

core::Result<HostPort> parse_base_url(const std::string& base_url) {
  constexpr std::string_view scheme = "http://";
  std::string_view rest = base_url;
  if (rest.starts_with(scheme)) {
    rest.remove_prefix(scheme.size());
    if (rest.ends_with('/'))
      rest.remove_suffix(1);
    if (auto address = HostPort::parse(rest))
      return address;
  }
  return core::Error{core::ErrorCode::invalid_argument,
                     "invalid URL '" + base_url
                         + "' (expected http://HOST:PORT)"};
}

} // namespace

core::Result<HttpResponse>
http_request(const std::string& base_url, const std::string& method,
             const std::string& target, const std::string& body,
             const std::map<std::string, std::string>& headers,
             std::chrono::milliseconds timeout) {
  auto address = parse_base_url(base_url);
  if (!address)
    return address.error();
  if (method.empty() || target.empty() || target.front() != '/')
    return core::Error{core::ErrorCode::invalid_argument,
                       "a request to " + base_url
                           + " needs a method and a target starting with "
                             "'/', not '"
                           + method + " " + target + "'"};
  auto failed = [&](const beast::error_code& ec, bool connecting) {
    if (ec == beast::error::timeout)
      return core::Error{core::ErrorCode::timeout,
                         "no response from " + base_url + " within "
                             + std::to_string(timeout.count()) + " ms"};
    if (connecting)
      return core::Error{core::ErrorCode::backend_unavailable,
                         "cannot reach " + base_url + ": " + ec.message()};
    return core::Error{core::ErrorCode::backend_error,
                       method + " " + base_url + target
                           + " failed: " + ec.message()};
  };

  // Each step starts one asynchronous operation and runs the io_context
  // until it completes: unlike a blocking call, it obeys the deadline.
  net::io_context io;
  auto wait = [&io] {
    io.run();
    io.restart();
  };
  beast::error_code ec;
  tcp::resolver resolver{io};
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(
      address->host, std::to_string(address->port),
      [&](beast::error_code result_ec, tcp::resolver::results_type results) {
        ec = result_ec;
        endpoints = std::move(results);
      });
  wait();
  if (ec)
    return failed(ec, true);
  beast::tcp_stream stream{io};
  stream.expires_after(timeout);
  stream.async_connect(endpoints,
                       [&](beast::error_code result_ec, const tcp::endpoint&) {
                         ec = result_ec;
                       });
  wait();
  if (ec)
    return failed(ec, true);

  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, address->to_string());
  request.set(http::field::user_agent, "tasker");
  if (!body.empty())
    request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers)
    request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::async_write(stream, request,
                    [&](beast::error_code result_ec, std::size_t) {
                      ec = result_ec;
                    });
  wait();
  if (ec)
    return failed(ec, false);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_response_body_bytes);
  // A HEAD response announces a length but has no body to wait for.
  parser.skip(request.method() == http::verb::head);
  http::async_read(stream, buffer, parser,
                   [&](beast::error_code result_ec, std::size_t) {
                     ec = result_ec;
                   });
  wait();
  if (ec)
    return failed(ec, false);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto& message = parser.get();
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = std::string{message[http::field::content_type]};
  response.body = std::move(message.body());
  for (const auto& field : message)
    response.headers.emplace_back(std::string{field.name_string()},
                                  std::string{field.value()});
  return response;
}

} // namespace tasker::web
