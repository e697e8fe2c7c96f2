#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace tasker::web {

/// An HTTP response as handlers build it. The server adds `Content-Length`
/// and `Server`; `headers` are extra headers sent as given.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  /// Returns `body` serialised as JSON.
  static HttpResponse json(int status, const nlohmann::json& body);

  /// Returns the JSON body `{"error": {"status": 404, "message": "..."}}`.
  static HttpResponse error(int status, std::string message);

  /// Returns a text body; the default content type is Prometheus' text
  /// exposition format.
  static HttpResponse text(int status, std::string body,
                           std::string content_type
                           = "text/plain; version=0.0.4");

  /// Returns the value of the first header named `name` (compared without
  /// case), or an empty string.
  std::string header(std::string_view name) const;
};

} // namespace tasker::web
