#pragma once

#include "core/result.hpp"
#include "web/http_request.hpp"
#include "web/http_response.hpp"

#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace tasker::web {

/// Maps a method and a path to a handler. Routes are added before serving
/// and read-only after, so `dispatch` needs no locking.
class Router {
 public:
  /// Answers one request; called on a server thread.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  /// Takes a response; thread-safe, the first call counts.
  using Reply = std::function<void(HttpResponse)>;
  /// Answers one request later (say, when a task finishes): called on a
  /// server thread, it must not block and must make `reply` be called once,
  /// from any thread.
  using DeferredHandler = std::function<void(const HttpRequest&, Reply)>;

  /// Adds a route. `pattern` is a path whose segments are literals or
  /// `{name}` parameters, e.g. "/v1/tasks/{task_id}/steps/{step_id}"; a
  /// parameter matches one non-empty segment. Fails naming the pattern when
  /// it does not start with '/', repeats a parameter name, or is registered
  /// already for `method`, and when `method` or `handler` is empty.
  core::Result<void> add(std::string method, std::string pattern,
                         Handler handler);

  /// Adds a route answered by a deferred handler; fails like `add`.
  core::Result<void> add_deferred(std::string method, std::string pattern,
                                  DeferredHandler handler);

  /// Runs the handler of the first route (in the order added) matching the
  /// request's method and path, after filling `request.path_params` with
  /// the decoded parameters. A HEAD request runs the GET route of its path
  /// unless a HEAD route exists (the server then sends no body). Answers
  /// 404 naming the path when no route matches the path, 405 with an
  /// `Allow` header when routes match it only for other methods, 400 when a
  /// parameter is badly percent-encoded, and 500 "internal error" when the
  /// handler throws before replying (the exception is logged, never sent).
  /// `reply` runs on the calling thread unless the route is deferred.
  void dispatch(HttpRequest& request, Reply reply) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    DeferredHandler handler;
  };

  const Route* find(const std::vector<std::string>& segments,
                    const std::string& method) const;

  /// The route of `request` (its path parameters filled in), or the error
  /// response when there is none.
  std::variant<const Route*, HttpResponse> route_of(HttpRequest& request) const;

  std::vector<Route> routes_;
};

} // namespace tasker::web
