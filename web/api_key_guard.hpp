#pragma once

#include "web/http_request.hpp"

#include <string>
#include <vector>

namespace tasker::web {

/// Decides whether a request may reach the router: with a key configured,
/// every path but the public ones needs `X-API-Key: KEY` or
/// `Authorization: Bearer KEY`.
class ApiKeyGuard {
 public:
  /// An empty `api_key` lets every request through.
  ApiKeyGuard(std::string api_key, std::vector<std::string> public_paths);

  /// Returns whether `request` may pass. Keys are compared in constant time
  /// so response timing does not reveal how much of a guess was right.
  bool allows(const HttpRequest& request) const;

 private:
  bool is_key(std::string_view presented) const;

  std::string api_key_;
  std::vector<std::string> public_paths_;
};

} // namespace tasker::web
