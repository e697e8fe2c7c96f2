#include "web/http_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace tasker;
using namespace tasker::web;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

std::shared_ptr<Router> test_router() {
  auto router = std::make_shared<Router>();
  REQUIRE(router
              ->add("GET", "/health",
                    [](auto&) {
                      return HttpResponse::json(200, {{"status", "ok"}});
                    })
              .ok());
  REQUIRE(router
              ->add("GET", "/v1/items/{id}",
                    [](const HttpRequest& request) {
                      return HttpResponse::json(
                          200, {{"id", request.path_params.at("id")},
                                {"query", request.query}});
                    })
              .ok());
  REQUIRE(router
              ->add("POST", "/v1/items",
                    [](const HttpRequest& request) {
                      auto item = nlohmann::json::parse(request.body);
                      item["created"] = true;
                      return HttpResponse::json(201, item);
                    })
              .ok());
  return router;
}

HttpServerOptions local_options() {
  HttpServerOptions options;
  options.bind_address = "127.0.0.1:0";
  return options;
}

// A started server on a free port of 127.0.0.1.
struct RunningServer {
  explicit RunningServer(HttpServerOptions options = local_options(),
                         std::shared_ptr<const Router> router = test_router())
      : server(std::move(options), std::move(router)) {
    auto started = server.start();
    REQUIRE_MESSAGE(started.ok(), started.error().to_string());
  }

  HttpServer server;
};

// One client connection, written with Beast's synchronous client API.
class Connection {
 public:
  explicit Connection(uint16_t port) : socket_(io_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
  }

  Response send(http::verb method, std::string target, std::string body = {},
                std::map<std::string, std::string> headers = {}) {
    Request request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers)
      request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    http::write(socket_, request);
    return receive(method == http::verb::head);
  }

  void send_raw(std::string_view bytes) {
    net::write(socket_, net::buffer(bytes.data(), bytes.size()));
  }

  // A HEAD response has a length but no body to read.
  Response receive(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

  // Whether the server closed the connection (reading finds its end).
  bool closed_by_server() {
    Response response;
    beast::error_code ec;
    http::read(socket_, buffer_, response, ec);
    return ec == http::error::end_of_stream;
  }

 private:
  net::io_context io_;
  net::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// `GET /slow`, whose handler says it `entered` and blocks its thread until
// `release`.
struct SlowRoute {
  std::promise<void> entered;
  std::promise<void> release;

  explicit SlowRoute(Router& router) {
    REQUIRE(router
                .add("GET", "/slow",
                     [this, released = release.get_future().share()](auto&) {
                       entered.set_value();
                       released.wait();
                       return HttpResponse::json(200, {{"slow", true}});
                     })
                .ok());
  }
};

nlohmann::json json_of(const Response& response) {
  return nlohmann::json::parse(response.body());
}

std::string error_message_of(const Response& response) {
  return json_of(response)["error"]["message"];
}

} // namespace

TEST_CASE("the http server answers GET and POST with JSON") {
  RunningServer running;
  Connection connection{running.server.port()};

  auto get
      = connection.send(http::verb::get, "/v1/items/a%20b?x=1&y=two+words");
  CHECK(get.result_int() == 200);
  CHECK(json_of(get)
        == nlohmann::json{{"id", "a b"},
                          {"query", {{"x", "1"}, {"y", "two words"}}}});

  auto post
      = connection.send(http::verb::post, "/v1/items", R"({"name":"widget"})",
                        {{"Content-Type", "application/json"}});
  CHECK(post.result_int() == 201);
  CHECK(json_of(post) == nlohmann::json{{"name", "widget"}, {"created", true}});
}

TEST_CASE("every http server response names its type, length and server") {
  RunningServer running;
  Connection connection{running.server.port()};
  for (auto target : {"/health", "/nothing"}) {
    CAPTURE(target);
    auto response = connection.send(http::verb::get, target);
    CHECK(response[http::field::content_type] == "application/json");
    CHECK(response[http::field::content_length]
          == std::to_string(response.body().size()));
    CHECK(response[http::field::server] == "tasker");
  }
}

TEST_CASE("the http server keeps a connection alive for a second request") {
  RunningServer running;
  Connection connection{running.server.port()};
  auto first = connection.send(http::verb::get, "/health");
  CHECK(first.result_int() == 200);
  CHECK(first.keep_alive());
  auto second = connection.send(http::verb::get, "/v1/items/2");
  CHECK(second.result_int() == 200);
  CHECK(json_of(second)["id"] == "2");
}

TEST_CASE("the http server answers HEAD with the GET headers and no body") {
  RunningServer running;
  Connection connection{running.server.port()};
  auto head = connection.send(http::verb::head, "/health");
  CHECK(head.result_int() == 200);
  CHECK(head.body().empty());
  CHECK(head[http::field::content_length]
        == std::to_string(std::string{R"({"status":"ok"})"}.size()));
  // The connection is still in step: the next response is read whole.
  CHECK(connection.send(http::verb::get, "/health").body()
        == R"({"status":"ok"})");
}

TEST_CASE("the http server answers 413 to a body over the limit and closes") {
  RunningServer running;
  Connection connection{running.server.port()};
  auto response = connection.send(http::verb::post, "/v1/items",
                                  std::string(1024 * 1024 + 1, 'x'));
  CHECK(response.result_int() == 413);
  CHECK(error_message_of(response) == "request body exceeds 1048576 bytes");
  CHECK(connection.closed_by_server());
}

TEST_CASE("the http server accepts a body exactly at the limit") {
  auto options = local_options();
  options.max_body_bytes = 16;
  RunningServer running{options};
  Connection connection{running.server.port()};
  auto at_limit
      = connection.send(http::verb::post, "/v1/items", R"({"n":"12345678"})");
  CHECK(at_limit.result_int() == 201);
  auto over
      = connection.send(http::verb::post, "/v1/items", R"({"n":"123456789"})");
  CHECK(over.result_int() == 413);
  CHECK(error_message_of(over) == "request body exceeds 16 bytes");
}

TEST_CASE("the http server answers 400 to malformed HTTP and closes") {
  RunningServer running;
  Connection connection{running.server.port()};
  connection.send_raw("NOT HTTP AT ALL\r\n\r\n");
  auto response = connection.receive();
  CHECK(response.result_int() == 400);
  CHECK(error_message_of(response).starts_with("malformed HTTP request"));
  CHECK(connection.closed_by_server());
}

TEST_CASE("the http server requires the API key outside public paths") {
  auto options = local_options();
  options.api_key = "s3cret";
  RunningServer running{options};
  Connection connection{running.server.port()};

  auto missing = connection.send(http::verb::get, "/v1/items/1");
  CHECK(missing.result_int() == 401);
  CHECK(error_message_of(missing) == "missing or invalid API key");
  for (auto [name, value] :
       {std::pair{"X-API-Key", "wrong"}, std::pair{"X-API-Key", "s3cre"},
        std::pair{"X-API-Key", "s3cret!"},
        std::pair{"Authorization", "Bearer wrong"},
        std::pair{"Authorization", "s3cret"}}) {
    CAPTURE(value);
    CHECK(connection.send(http::verb::get, "/v1/items/1", {}, {{name, value}})
              .result_int()
          == 401);
  }

  CHECK(connection
            .send(http::verb::get, "/v1/items/1", {}, {{"X-API-Key", "s3cret"}})
            .result_int()
        == 200);
  CHECK(connection
            .send(http::verb::get, "/v1/items/1", {},
                  {{"Authorization", "Bearer s3cret"}})
            .result_int()
        == 200);
  CHECK(connection.send(http::verb::get, "/health").result_int() == 200);
}

TEST_CASE("an http server cannot bind a port in use and names the address") {
  RunningServer running;
  auto options = local_options();
  options.bind_address = "127.0.0.1:" + std::to_string(running.server.port());
  HttpServer second{options, test_router()};
  auto started = second.start();
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().message()
        == "cannot listen on " + options.bind_address
               + ": Address already in use");
}

TEST_CASE("an http server refuses a bad bind address, naming it") {
  auto options = local_options();
  options.bind_address = "localhost";
  HttpServer server{options, test_router()};
  auto started = server.start();
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().message()
        == "invalid address 'localhost': no port (expected HOST:PORT, e.g. "
           "127.0.0.1:8080)");
}

TEST_CASE("stopping an idle http server returns promptly and closes clients") {
  RunningServer running;
  Connection idle{running.server.port()};
  // Answered, so the server holds the connection waiting for a next request.
  REQUIRE(idle.send(http::verb::get, "/health").result_int() == 200);

  auto before = std::chrono::steady_clock::now();
  running.server.stop();
  // Far below the 30 s request timeout an idle connection would wait for.
  CHECK(std::chrono::steady_clock::now() - before < std::chrono::seconds{5});
  CHECK(idle.closed_by_server());
  running.server.stop();
}

TEST_CASE("stopping an http server lets the request under way finish") {
  auto router = std::make_shared<Router>();
  SlowRoute slow{*router};
  auto& entered = slow.entered;
  auto& release = slow.release;
  RunningServer running{local_options(), router};
  Connection connection{running.server.port()};
  auto answer = std::async(std::launch::async, [&] {
    return connection.send(http::verb::get, "/slow");
  });
  entered.get_future().wait();
  std::thread stopper{[&] {
    running.server.stop();
  }};
  release.set_value();
  stopper.join();
  auto response = answer.get();
  CHECK(response.result_int() == 200);
  CHECK(response.body() == R"({"slow":true})");
  CHECK(connection.closed_by_server());
}

TEST_CASE("a connection is answered while another connection's handler "
          "blocks, on the server's other thread") {
  auto router = test_router();
  SlowRoute slow_route{*router};
  auto& entered = slow_route.entered;
  auto& release = slow_route.release;
  auto options = local_options();
  options.threads = 2;
  RunningServer running{options, router};
  Connection blocked{running.server.port()};
  auto slow = std::async(std::launch::async, [&] {
    return blocked.send(http::verb::get, "/slow");
  });
  entered.get_future().wait();
  Connection other{running.server.port()};
  CHECK(other.send(http::verb::get, "/health").result_int() == 200);
  release.set_value();
  CHECK(slow.get().result_int() == 200);
  // The first thread takes connections again once free.
  Connection third{running.server.port()};
  CHECK(third.send(http::verb::get, "/health").result_int() == 200);
}

TEST_CASE("connections go to the server's threads in turn, each staying on "
          "its own") {
  auto router = test_router();
  std::mutex mutex;
  std::vector<std::thread::id> threads;
  REQUIRE(router
              ->add("GET", "/thread",
                    [&](auto&) {
                      std::lock_guard<std::mutex> guard{mutex};
                      threads.push_back(std::this_thread::get_id());
                      return HttpResponse::json(200, {});
                    })
              .ok());
  auto options = local_options();
  options.threads = 2;
  RunningServer running{options, router};
  Connection first{running.server.port()};
  Connection second{running.server.port()};
  Connection third{running.server.port()};
  for (auto* connection : {&first, &second, &third, &first, &second, &third})
    REQUIRE(connection->send(http::verb::get, "/thread").result_int() == 200);
  REQUIRE(threads.size() == 6);
  CHECK(threads[0] != threads[1]);
  CHECK(threads[2] == threads[0]);
  CHECK(threads[3] == threads[0]);
  CHECK(threads[4] == threads[1]);
  CHECK(threads[5] == threads[2]);
  CHECK(threads[0] != std::this_thread::get_id());
}

TEST_CASE("a one-thread http server serves its connections in turn") {
  auto options = local_options();
  options.threads = 1;
  RunningServer running{options};
  Connection first{running.server.port()};
  Connection second{running.server.port()};
  CHECK(first.send(http::verb::get, "/health").result_int() == 200);
  CHECK(second.send(http::verb::get, "/health").result_int() == 200);
  CHECK(first.send(http::verb::get, "/health").result_int() == 200);
}
