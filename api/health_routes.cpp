#include "api/health_routes.hpp"

namespace tasker::api {

core::Result<void>
add_health_routes(web::Router& router, std::function<Readiness()> ready,
                  std::shared_ptr<web::MetricsRegistry> metrics) {
  if (auto added
      = router.add("GET", "/health",
                   [](const web::HttpRequest&) {
                     return web::HttpResponse::json(200, {{"status", "ok"}});
                   });
      !added)
    return added;
  if (auto added
      = router.add("GET", "/health/ready",
                   [ready = std::move(ready)](const web::HttpRequest&) {
                     auto now = ready();
                     return web::HttpResponse::json(
                         now.ready ? 200 : 503,
                         {{"status", now.ready ? "ready" : "not_ready"},
                          {"checks", now.checks}});
                   });
      !added)
    return added;
  return router.add("GET", "/metrics",
                    [metrics = std::move(metrics)](const web::HttpRequest&) {
                      return web::HttpResponse::text(200, metrics->render());
                    });
}

} // namespace tasker::api
