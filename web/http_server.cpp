#include "web/http_server.hpp"

#include "core/logger.hpp"
#include "web/host_port.hpp"
#include "web/http_listener.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include <exception>
#include <memory>
#include <thread>
#include <vector>

namespace tasker::web {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpServer::Runtime {
  using WorkGuard = net::executor_work_guard<net::io_context::executor_type>;

  // One io_context per thread, run by that thread alone, so a connection's
  // I/O never wakes another thread: with one io_context shared by all
  // threads, each ready socket woke a second thread. The first one is the
  // acceptor's alone, so a blocking handler never holds up accepting.
  // Declared first, destroyed last: the listener's sockets use them.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  // Keep each thread running while it has no connection.
  std::vector<WorkGuard> guards;
  std::shared_ptr<HttpListener> listener;
  std::vector<std::thread> threads;
};

namespace {

void run_io(net::io_context& io) {
  // An exception escaping a completion handler ends only that handler.
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      core::log_error("http",
                      std::string{"a server thread caught: "} + e.what());
    }
  }
}

} // namespace

HttpServer::HttpServer(HttpServerOptions options,
                       std::shared_ptr<const Router> router)
    : options_(std::move(options)), router_(std::move(router)) {}

HttpServer::~HttpServer() {
  stop();
}

core::Result<void> HttpServer::start() {
  if (runtime_)
    return core::Error{core::ErrorCode::invalid_argument,
                       "the server on " + options_.bind_address
                           + " is started already"};
  if (!router_)
    return core::Error{core::ErrorCode::invalid_argument,
                       "the server on " + options_.bind_address
                           + " needs a router"};
  if (options_.threads == 0)
    return core::Error{core::ErrorCode::invalid_config,
                       "the server on " + options_.bind_address
                           + " needs at least 1 thread"};
  if (options_.request_timeout.count() <= 0)
    return core::Error{core::ErrorCode::invalid_config,
                       "the server on " + options_.bind_address
                           + " needs a positive request timeout"};
  auto address = HostPort::parse(options_.bind_address);
  if (!address)
    return core::Error{core::ErrorCode::invalid_config,
                       address.error().message()};
  auto cannot_listen = [&](const boost::system::error_code& ec) {
    return core::Error{core::ErrorCode::io_error, "cannot listen on "
                                                      + options_.bind_address
                                                      + ": " + ec.message()};
  };
  auto runtime = std::make_unique<Runtime>();
  for (std::size_t i = 0; i <= options_.threads; ++i) {
    runtime->contexts.push_back(std::make_unique<net::io_context>(1));
    runtime->guards.push_back(net::make_work_guard(*runtime->contexts.back()));
  }
  auto& accepting = *runtime->contexts.front();
  std::vector<net::io_context*> serving;
  for (std::size_t i = 1; i < runtime->contexts.size(); ++i)
    serving.push_back(runtime->contexts[i].get());
  boost::system::error_code ec;
  tcp::resolver resolver{accepting};
  auto endpoints = resolver.resolve(
      address->host, std::to_string(address->port),
      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec)
    return cannot_listen(ec);
  tcp::endpoint endpoint = *endpoints.begin();
  tcp::acceptor acceptor{net::make_strand(accepting)};
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return cannot_listen(ec);
  port_ = acceptor.local_endpoint().port();
  auto settings
      = std::make_shared<const HttpSession::Settings>(HttpSession::Settings{
          router_, ApiKeyGuard{options_.api_key, options_.public_paths},
          options_.max_body_bytes, options_.request_timeout});
  runtime->listener = std::make_shared<HttpListener>(
      std::move(serving), std::move(acceptor), std::move(settings));
  runtime->listener->start();
  for (auto& context : runtime->contexts)
    runtime->threads.emplace_back([context = context.get()] {
      run_io(*context);
    });
  runtime_ = std::move(runtime);
  core::log_info("http",
                 "listening on " + HostPort{address->host, port_}.to_string());
  return {};
}

void HttpServer::stop() {
  if (!runtime_)
    return;
  runtime_->listener->stop([runtime = runtime_.get()] {
    runtime->guards.clear();
  });
  for (auto& thread : runtime_->threads)
    thread.join();
  runtime_.reset();
  core::log_info("http", "stopped listening on port " + std::to_string(port_));
}

uint16_t HttpServer::port() const {
  return port_;
}

} // namespace tasker::web
