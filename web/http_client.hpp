#pragma once

#include "core/result.hpp"
#include "web/http_response.hpp"

#include <chrono>
#include <map>
#include <string>

namespace tasker::web {

/// Sends one request to `base_url` ("http://HOST:PORT", no path) on a new
/// connection and returns the response, whatever its status. `target` is
/// the path and query, e.g. "/v1/tasks?limit=10". A non-empty body is sent
/// as `application/json` unless `headers` names a `Content-Type`. The
/// `timeout` covers connecting, sending and receiving.
///
/// Fails naming the URL: "cannot reach http://127.0.0.1:8080: Connection
/// refused" (backend_unavailable), "no response from http://127.0.0.1:8080
/// within 10000 ms" (timeout), "GET http://127.0.0.1:8080/x failed: ..."
/// (backend_error, also for a response body over 8 MiB), or an invalid URL
/// (invalid_argument). The response's headers keep the names sent.
core::Result<HttpResponse>
http_request(const std::string& base_url, const std::string& method,
             const std::string& target, const std::string& body = {},
             const std::map<std::string, std::string>& headers = {},
             std::chrono::milliseconds timeout = std::chrono::seconds{10});

} // namespace tasker::web
