#include "web/http_response.hpp"

#include <algorithm>
#include <cctype>

namespace tasker::web {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](unsigned char x, unsigned char y) {
    return std::tolower(x) == std::tolower(y);
  });
}

} // namespace

HttpResponse HttpResponse::json(int status, const nlohmann::json& body) {
  HttpResponse response;
  response.status = status;
  // Replacing invalid UTF-8 (say, from a decoded path parameter) instead of
  // throwing keeps every response renderable.
  response.body
      = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse HttpResponse::error(int status, std::string message) {
  return json(
      status,
      {{"error", {{"status", status}, {"message", std::move(message)}}}});
}

HttpResponse HttpResponse::text(int status, std::string body,
                                std::string content_type) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (equal_ignoring_case(key, name))
      return value;
  return {};
}

} // namespace tasker::web
