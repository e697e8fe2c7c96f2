#pragma once

#include "core/result.hpp"
#include "web/metrics_registry.hpp"
#include "web/router.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>

namespace tasker::api {

/// What `/health/ready` reports: ready or not, and each check's state.
struct Readiness {
  bool ready = true;
  /// `{check: {"ok": bool, ...}}`, e.g. "database", "provider".
  nlohmann::json checks = nlohmann::json::object();
};

/// Adds `/health` (liveness: 200 while the process serves), `/health/ready`
/// (200 or 503 with the checks `ready` returns) and `/metrics` (Prometheus
/// text of `metrics`), the endpoints every node serves.
core::Result<void>
add_health_routes(web::Router& router, std::function<Readiness()> ready,
                  std::shared_ptr<web::MetricsRegistry> metrics);

} // namespace tasker::api
