#include "web/router.hpp"

#include "core/logger.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tasker;
using namespace tasker::web;

namespace {

HttpRequest request_for(std::string method, std::string path) {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

HttpResponse named(std::string name) {
  return HttpResponse::json(200, {{"route", std::move(name)}});
}

std::string message_of(const HttpResponse& response) {
  return nlohmann::json::parse(response.body)["error"]["message"];
}

// Dispatches `request` and returns the response the route replied at once.
HttpResponse respond(const Router& router, HttpRequest& request) {
  std::optional<HttpResponse> out;
  router.dispatch(request, [&](HttpResponse response) {
    out = std::move(response);
  });
  REQUIRE(out.has_value());
  return *out;
}

// Adds a route that answers {"route": NAME}.
void add_named(Router& router, const std::string& method,
               const std::string& pattern, const std::string& name) {
  REQUIRE(router
              .add(method, pattern,
                   [name](auto&) {
                     return named(name);
                   })
              .ok());
}

} // namespace

TEST_CASE("the router runs the handler of the matching method and path") {
  Router router;
  add_named(router, "GET", "/v1/tasks", "list");
  add_named(router, "POST", "/v1/tasks", "create");
  add_named(router, "GET", "/v1/tasks/{task_id}", "one");
  add_named(router, "GET", "/", "root");

  auto get = request_for("GET", "/v1/tasks");
  CHECK(respond(router, get).body == R"({"route":"list"})");
  auto post = request_for("POST", "/v1/tasks");
  CHECK(respond(router, post).body == R"({"route":"create"})");
  auto one = request_for("GET", "/v1/tasks/t1");
  CHECK(respond(router, one).body == R"({"route":"one"})");
  auto root = request_for("GET", "/");
  CHECK(respond(router, root).body == R"({"route":"root"})");
}

TEST_CASE("the router fills percent-decoded path parameters") {
  Router router;
  REQUIRE(router
              .add("GET", "/v1/tasks/{task_id}/steps/{step_id}",
                   [](const HttpRequest& request) {
                     return HttpResponse::json(200, request.path_params);
                   })
              .ok());
  auto request = request_for("GET", "/v1/tasks/a%20b/steps/c%2Fd");
  auto response = respond(router, request);
  CHECK(response.status == 200);
  CHECK(request.path_params
        == std::map<std::string, std::string>{{"task_id", "a b"},
                                              {"step_id", "c/d"}});
  CHECK(response.body == R"({"step_id":"c/d","task_id":"a b"})");
}

TEST_CASE("the router answers 404 naming a path no route matches") {
  Router router;
  add_named(router, "GET", "/v1/tasks/{task_id}", "one");
  for (std::string path : {"/v1/nothing", "/v1/tasks", "/v1/tasks/",
                           "/v1/tasks/t1/steps", "relative"}) {
    CAPTURE(path);
    auto request = request_for("GET", path);
    auto response = respond(router, request);
    CHECK(response.status == 404);
    CHECK(response.content_type == "application/json");
    CHECK(response.body
          == R"({"error":{"message":"no route for path ')" + path
                 + R"('","status":404}})");
  }
}

TEST_CASE("the router answers 405 with an Allow header for another method") {
  Router router;
  add_named(router, "GET", "/v1/tasks", "list");
  add_named(router, "POST", "/v1/tasks", "create");
  auto request = request_for("DELETE", "/v1/tasks");
  auto response = respond(router, request);
  CHECK(response.status == 405);
  CHECK(response.header("Allow") == "GET, HEAD, POST");
  CHECK(message_of(response)
        == "method DELETE is not allowed for path '/v1/tasks' (allowed: GET, "
           "HEAD, POST)");
}

TEST_CASE("the router answers HEAD with the GET route") {
  Router router;
  REQUIRE(router
              .add("GET", "/health",
                   [](const HttpRequest& request) {
                     return named(request.method);
                   })
              .ok());
  auto request = request_for("HEAD", "/health");
  CHECK(respond(router, request).body == R"({"route":"HEAD"})");
}

TEST_CASE("the router answers 500 without the text of a thrown exception") {
  std::vector<std::string> logged;
  core::Logger::set_sink(
      [&](core::LogLevel, std::string_view, std::string_view message) {
        logged.emplace_back(message);
      });
  Router router;
  REQUIRE(router
              .add("GET", "/boom",
                   [](auto&) -> HttpResponse {
                     throw std::runtime_error("password=hunter2");
                   })
              .ok());
  auto request = request_for("GET", "/boom");
  auto response = respond(router, request);
  core::Logger::set_sink({});
  CHECK(response.status == 500);
  CHECK(response.body
        == R"({"error":{"message":"internal error","status":500}})");
  REQUIRE(logged.size() == 1);
  CHECK(logged[0] == "GET /boom failed: the handler threw: password=hunter2");
}

TEST_CASE("the router answers 400 to a badly percent-encoded parameter") {
  Router router;
  add_named(router, "GET", "/v1/tasks/{task_id}", "one");
  auto request = request_for("GET", "/v1/tasks/a%zz");
  auto response = respond(router, request);
  CHECK(response.status == 400);
  CHECK(message_of(response)
        == "bad path '/v1/tasks/a%zz': invalid percent-encoding in 'a%zz'");
}

TEST_CASE("the router refuses bad or duplicate routes, naming the pattern") {
  Router router;
  auto handler = [](auto&) {
    return named("x");
  };
  REQUIRE(router.add("GET", "/v1/tasks/{id}", handler).ok());

  auto relative = router.add("GET", "v1/tasks", handler);
  REQUIRE_FALSE(relative.ok());
  CHECK(relative.error().message()
        == "route pattern 'v1/tasks' must start with '/'");

  auto repeated = router.add("GET", "/v1/{id}/steps/{id}", handler);
  REQUIRE_FALSE(repeated.ok());
  CHECK(repeated.error().message()
        == "route pattern '/v1/{id}/steps/{id}' repeats parameter 'id'");

  auto duplicate = router.add("GET", "/v1/tasks/{task_id}", handler);
  REQUIRE_FALSE(duplicate.ok());
  CHECK(duplicate.error().message()
        == "route GET '/v1/tasks/{task_id}' is registered already as "
           "'/v1/tasks/{id}'");

  CHECK(router.add("POST", "/v1/tasks/{id}", handler).ok());
  CHECK_FALSE(router.add("", "/v1/other", handler).ok());
  CHECK_FALSE(router.add("GET", "/v1/other", Router::Handler{}).ok());
}

TEST_CASE("a deferred route replies later, once; a throw before replying is "
          "a 500") {
  Router router;
  Router::Reply kept;
  REQUIRE(
      router
          .add_deferred("GET", "/v1/tasks/{id}",
                        [&](const HttpRequest& request, Router::Reply reply) {
                          if (request.path_params.at("id") == "bad")
                            throw std::runtime_error{"boom"};
                          kept = std::move(reply);
                        })
          .ok());
  std::vector<std::string> replies;
  auto collect = [&](HttpResponse response) {
    replies.push_back(response.body);
  };

  auto later = request_for("GET", "/v1/tasks/t1");
  router.dispatch(later, collect);
  CHECK(replies.empty());
  REQUIRE(kept);
  kept(named("late"));
  kept(named("again"));
  CHECK(replies == std::vector<std::string>{R"({"route":"late"})"});

  core::Logger::set_sink([](auto, auto, auto) {});
  auto bad = request_for("GET", "/v1/tasks/bad");
  router.dispatch(bad, collect);
  core::Logger::set_sink({});
  REQUIRE(replies.size() == 2);
  CHECK(nlohmann::json::parse(replies[1])["error"]["message"]
        == "internal error");
}
