#pragma once

#include "core/result.hpp"
#include "web/http_request.hpp"
#include "web/http_response.hpp"

#include <functional>
#include <string>
#include <vector>

namespace tasker::web {

/// Maps a method and a path to a handler. Routes are added before serving
/// and read-only after, so `dispatch` needs no locking.
class Router {
 public:
  /// Answers one request; called on a server thread.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  /// Adds a route. `pattern` is a path whose segments are literals or
  /// `{name}` parameters, e.g. "/v1/tasks/{task_id}/steps/{step_id}"; a
  /// parameter matches one non-empty segment. Fails naming the pattern when
  /// it does not start with '/', repeats a parameter name, or is registered
  /// already for `method`, and when `method` or `handler` is empty.
  core::Result<void> add(std::string method, std::string pattern,
                         Handler handler);

  /// Runs the handler of the first route (in the order added) matching the
  /// request's method and path, after filling `request.path_params` with
  /// the decoded parameters. A HEAD request runs the GET route of its path
  /// unless a HEAD route exists (the server then sends no body). Answers
  /// 404 naming the path when no route matches the path, 405 with an
  /// `Allow` header when routes match it only for other methods, 400 when a
  /// parameter is badly percent-encoded, and 500 "internal error" when the
  /// handler throws (the exception is logged, never sent).
  HttpResponse dispatch(HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };

  const Route* find(const std::vector<std::string>& segments,
                    const std::string& method) const;

  std::vector<Route> routes_;
};

} // namespace tasker::web
