#include "web/http_client.hpp"

#include "web/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

#include <string>

using namespace tasker;
using namespace tasker::web;

namespace {

// A started server echoing the request on a free port of 127.0.0.1.
struct EchoServer {
  EchoServer() : server(options(), router()) {
    auto started = server.start();
    REQUIRE_MESSAGE(started.ok(), started.error().to_string());
  }

  static HttpServerOptions options() {
    HttpServerOptions options;
    options.bind_address = "127.0.0.1:0";
    options.api_key = "s3cret";
    return options;
  }

  static std::shared_ptr<const Router> router() {
    auto router = std::make_shared<Router>();
    REQUIRE(router
                ->add("PUT", "/v1/echo/{id}",
                      [](const HttpRequest& request) {
                        auto response = HttpResponse::json(
                            202, {{"id", request.path_params.at("id")},
                                  {"query", request.query},
                                  {"body", request.body},
                                  {"content_type",
                                   request.headers.at("content-type")}});
                        response.headers.emplace_back("X-Echo", "yes");
                        return response;
                      })
                .ok());
    return router;
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server.port());
  }

  HttpServer server;
};

} // namespace

TEST_CASE("http_request sends method, target, body and headers") {
  EchoServer echo;
  auto response = http_request(echo.url(), "PUT", "/v1/echo/7?a=b",
                               R"({"x":1})", {{"X-API-Key", "s3cret"}});
  REQUIRE_MESSAGE(response.ok(), response.error().to_string());
  CHECK(response->status == 202);
  CHECK(response->content_type == "application/json");
  CHECK(response->header("x-echo") == "yes");
  CHECK(nlohmann::json::parse(response->body)
        == nlohmann::json{{"id", "7"},
                          {"query", {{"a", "b"}}},
                          {"body", R"({"x":1})"},
                          {"content_type", "application/json"}});
}

TEST_CASE("http_request returns error statuses as responses") {
  EchoServer echo;
  auto unauthorised = http_request(echo.url() + "/", "PUT", "/v1/echo/7");
  REQUIRE(unauthorised.ok());
  CHECK(unauthorised->status == 401);
  auto missing = http_request(echo.url(), "GET", "/nothing", {},
                              {{"Authorization", "Bearer s3cret"}});
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
}

TEST_CASE("http_request reads a HEAD response without waiting for a body") {
  EchoServer echo;
  auto head = http_request(echo.url(), "HEAD", "/v1/echo/7", {},
                           {{"X-API-Key", "s3cret"}});
  REQUIRE_MESSAGE(head.ok(), head.error().to_string());
  CHECK(head->status == 405);
  CHECK(head->header("Allow") == "PUT");
  CHECK(head->body.empty());
}

TEST_CASE("http_request names the URL it cannot reach") {
  std::string url;
  {
    EchoServer stopped;
    url = stopped.url();
  }
  auto response = http_request(url, "GET", "/health");
  REQUIRE_FALSE(response.ok());
  CHECK(response.error().code() == core::ErrorCode::backend_unavailable);
  CHECK(response.error().message()
        == "cannot reach " + url + ": Connection refused");
}

TEST_CASE("http_request gives up after its timeout, naming the URL") {
  // Listening but never accepting: the kernel completes the connection and
  // buffers the request, and no answer ever comes.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent{
      io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  auto url
      = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  auto response = http_request(url, "GET", "/health", {}, {},
                               std::chrono::milliseconds{100});
  REQUIRE_FALSE(response.ok());
  CHECK(response.error().code() == core::ErrorCode::timeout);
  CHECK(response.error().message()
        == "no response from " + url + " within 100 ms");
}

TEST_CASE("http_request refuses an invalid URL or target") {
  for (std::string url : {"127.0.0.1:8080", "https://127.0.0.1:8080",
                          "http://127.0.0.1", "http://127.0.0.1:99999"}) {
    CAPTURE(url);
    auto response = http_request(url, "GET", "/health");
    REQUIRE_FALSE(response.ok());
    CHECK(response.error().message()
          == "invalid URL '" + url + "' (expected http://HOST:PORT)");
  }
  auto relative = http_request("http://127.0.0.1:8080", "GET", "health");
  REQUIRE_FALSE(relative.ok());
  CHECK(relative.error().code() == core::ErrorCode::invalid_argument);
}
