#include "web/router.hpp"

#include "core/logger.hpp"
#include "web/url_decoding.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <set>

namespace tasker::web {

namespace {

// "/a/b" gives {"a", "b"}, "/" gives {""}; `path` starts with '/'.
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  path.remove_prefix(1);
  for (;;) {
    auto slash = path.find('/');
    segments.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      return segments;
    path.remove_prefix(slash + 1);
  }
}

bool is_parameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

std::string parameter_name(std::string_view segment) {
  return std::string{segment.substr(1, segment.size() - 2)};
}

bool matches(const std::vector<std::string>& pattern,
             const std::vector<std::string>& path) {
  if (pattern.size() != path.size())
    return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    bool ok
        = is_parameter(pattern[i]) ? !path[i].empty() : pattern[i] == path[i];
    if (!ok)
      return false;
  }
  return true;
}

// Patterns that differ only in parameter names match the same paths.
bool same_shape(const std::vector<std::string>& a,
                const std::vector<std::string>& b) {
  return std::ranges::equal(a, b, [](const auto& x, const auto& y) {
    return is_parameter(x) ? is_parameter(y) : x == y;
  });
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out;
}

} // namespace

core::Result<void> Router::add(std::string method, std::string pattern,
                               Handler handler) {
  if (!handler)
    return add_deferred(std::move(method), std::move(pattern), nullptr);
  return add_deferred(std::move(method), std::move(pattern),
                      [handler = std::move(handler)](const HttpRequest& request,
                                                     const Reply& reply) {
                        reply(handler(request));
                      });
}

core::Result<void> Router::add_deferred(std::string method, std::string pattern,
                                        DeferredHandler handler) {
  if (method.empty() || !handler)
    return core::Error{core::ErrorCode::invalid_argument,
                       "route '" + pattern + "' needs a method and a handler"};
  if (pattern.empty() || pattern.front() != '/')
    return core::Error{core::ErrorCode::invalid_argument,
                       "route pattern '" + pattern + "' must start with '/'"};
  auto segments = split_path(pattern);
  std::set<std::string> names;
  for (const auto& segment : segments)
    if (is_parameter(segment) && !names.insert(parameter_name(segment)).second)
      return core::Error{core::ErrorCode::invalid_argument,
                         "route pattern '" + pattern + "' repeats parameter '"
                             + parameter_name(segment) + "'"};
  for (const auto& route : routes_)
    if (route.method == method && same_shape(route.segments, segments))
      return core::Error{core::ErrorCode::duplicate,
                         "route " + method + " '" + pattern
                             + "' is registered already as '" + route.pattern
                             + "'"};
  routes_.push_back(Route{std::move(method), std::move(pattern),
                          std::move(segments), std::move(handler)});
  return {};
}

const Router::Route* Router::find(const std::vector<std::string>& segments,
                                  const std::string& method) const {
  for (const auto& route : routes_)
    if (route.method == method && matches(route.segments, segments))
      return &route;
  return nullptr;
}

void Router::dispatch(HttpRequest& request, Reply reply) const {
  auto route = route_of(request);
  if (auto* response = std::get_if<HttpResponse>(&route))
    return reply(std::move(*response));
  // The first response wins: a handler that throws after replying is only
  // logged.
  auto replied = std::make_shared<std::atomic<bool>>(false);
  Reply once = [replied, reply = std::move(reply)](HttpResponse response) {
    if (!replied->exchange(true))
      reply(std::move(response));
  };
  try {
    return std::get<const Route*>(route)->handler(request, once);
  } catch (const std::exception& e) {
    core::log_error("http", request.method + " " + request.path
                                + " failed: the handler threw: " + e.what());
  } catch (...) {
    core::log_error("http", request.method + " " + request.path
                                + " failed: the handler threw a "
                                  "non-standard exception");
  }
  once(HttpResponse::error(500, "internal error"));
}

std::variant<const Router::Route*, HttpResponse>
Router::route_of(HttpRequest& request) const {
  if (request.path.empty() || request.path.front() != '/')
    return HttpResponse::error(404, "no route for path '" + request.path + "'");
  auto segments = split_path(request.path);
  for (auto& segment : segments) {
    auto decoded = percent_decode(segment);
    if (!decoded)
      return HttpResponse::error(400, "bad path '" + request.path
                                          + "': " + decoded.error().message());
    segment = std::move(*decoded);
  }
  const Route* route = find(segments, request.method);
  if (!route && request.method == "HEAD")
    route = find(segments, "GET");
  if (!route) {
    std::set<std::string> allowed;
    for (const auto& other : routes_)
      if (matches(other.segments, segments))
        allowed.insert(other.method);
    if (allowed.empty())
      return HttpResponse::error(404,
                                 "no route for path '" + request.path + "'");
    if (allowed.contains("GET"))
      allowed.insert("HEAD");
    auto response = HttpResponse::error(
        405, "method " + request.method + " is not allowed for path '"
                 + request.path + "' (allowed: " + join(allowed) + ")");
    response.headers.emplace_back("Allow", join(allowed));
    return response;
  }
  request.path_params.clear();
  for (std::size_t i = 0; i < segments.size(); ++i)
    if (is_parameter(route->segments[i]))
      request.path_params[parameter_name(route->segments[i])] = segments[i];
  return route;
}

} // namespace tasker::web
