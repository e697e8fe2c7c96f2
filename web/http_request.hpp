#pragma once

#include <map>
#include <string>

namespace tasker::web {

/// An HTTP request as handlers see it, independent of the server library.
struct HttpRequest {
  /// The method as sent, e.g. "GET".
  std::string method;
  /// The target without its query, still percent-encoded, e.g. "/v1/tasks/a".
  std::string path;
  /// The decoded query parameters; of a repeated name, the first value.
  std::map<std::string, std::string> query;
  /// The headers by lower-case name; repeated headers are joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;
  /// The decoded `{name}` segments of the matched route, filled by `Router`.
  std::map<std::string, std::string> path_params;
};

} // namespace tasker::web
