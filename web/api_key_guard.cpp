#include "web/api_key_guard.hpp"

#include <algorithm>
#include <cctype>

namespace tasker::web {

namespace {

// The credentials of "Bearer KEY"; the scheme is case-insensitive.
std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size()
      || !std::ranges::equal(authorization.substr(0, scheme.size()), scheme,
                             [](unsigned char a, unsigned char b) {
                               return std::tolower(a) == b;
                             }))
    return {};
  return authorization.substr(scheme.size());
}

} // namespace

ApiKeyGuard::ApiKeyGuard(std::string api_key,
                         std::vector<std::string> public_paths)
    : api_key_(std::move(api_key)), public_paths_(std::move(public_paths)) {}

bool ApiKeyGuard::allows(const HttpRequest& request) const {
  if (api_key_.empty()
      || std::ranges::find(public_paths_, request.path) != public_paths_.end())
    return true;
  if (auto i = request.headers.find("x-api-key"); i != request.headers.end())
    return is_key(i->second);
  if (auto i = request.headers.find("authorization");
      i != request.headers.end())
    return is_key(bearer_token(i->second));
  return false;
}

bool ApiKeyGuard::is_key(std::string_view presented) const {
  // The loop runs over the presented bytes only, touching the key at every
  // step, so its duration depends on neither the key nor the match.
  std::size_t difference = presented.size() ^ api_key_.size();
  for (std::size_t i = 0; i < presented.size(); ++i)
    difference |= static_cast<unsigned char>(presented[i])
                  ^ static_cast<unsigned char>(api_key_[i % api_key_.size()]);
  return difference == 0 && !presented.empty();
}

} // namespace tasker::web
