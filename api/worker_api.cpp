#include "api/worker_api.hpp"

#include "api/health_routes.hpp"
#include "api/metric_sources.hpp"

#include <caf/scoped_actor.hpp>

#include <chrono>

namespace tasker::api {

namespace {

Readiness worker_readiness(const WorkerApi& api) {
  Readiness out;
  auto provider = api.provider;
  bool queues = true;
  for (const auto& queue : api.queues) {
    auto exists = provider.queue_exists(queue);
    queues = queues && exists.ok() && *exists;
  }
  out.checks["provider"]
      = {{"ok", queues}, {"name", std::string{provider.provider_name()}}};
  caf::scoped_actor self{*api.system};
  bool events = true;
  nlohmann::json systems = nlohmann::json::array();
  for (const auto& events_actor : api.event_systems)
    self->request(events_actor, std::chrono::seconds{2},
                  channels::GetEventSystemStatus{})
        .receive(
            [&](channels::EventSystemStatus& status) {
              systems.push_back({{"name", status.name},
                                 {"mode", status.effective_mode},
                                 {"in_flight", status.stats.in_flight},
                                 {"limit", status.stats.limit},
                                 {"saturation", status.stats.saturation()}});
            },
            [&](caf::error&) {
              events = false;
            });
  out.checks["event_systems"] = {{"ok", events}, {"systems", systems}};
  bool healthy = false;
  self->request(api.processor, std::chrono::seconds{2},
                channels::WorkerHealthCheck{})
      .receive(
          [&](channels::WorkerHealth& health) {
            healthy = health.healthy;
            out.checks["processor"] = {{"ok", health.healthy},
                                       {"active_steps", health.active_steps},
                                       {"detail", health.detail}};
          },
          [&](caf::error&) {
            out.checks["processor"] = {{"ok", false}};
          });
  out.ready = queues && events && healthy;
  return out;
}

} // namespace

std::vector<double> step_duration_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
}

core::Result<void> add_worker_routes(web::Router& router,
                                     const WorkerApi& api) {
  return add_health_routes(
      router,
      [api] {
        return worker_readiness(api);
      },
      api.metrics);
}

void add_worker_metrics(const WorkerApi& endpoints) {
  // The registry owns its collectors: one holding the registry would never
  // be freed, nor the actors it names (the actor system would wait for
  // them at exit forever).
  auto api = endpoints;
  api.metrics = nullptr;
  endpoints.metrics->add_collector([api](web::MetricsRegistry& metrics) {
    caf::scoped_actor self{*api.system};
    self->request(api.processor, std::chrono::seconds{2},
                  channels::GetWorkerStatus{})
        .receive(
            [&](channels::WorkerStatus& status) {
              auto total
                  = [&](const char* name, const char* help, uint64_t value) {
                      raise_counter(metrics, name, help, value);
                    };
              total("tasker_worker_steps_succeeded_total",
                    "Steps whose handler succeeded.", status.steps_succeeded);
              total("tasker_worker_steps_failed_total",
                    "Steps whose handler failed (timeouts included).",
                    status.steps_failed);
              total("tasker_worker_steps_timed_out_total",
                    "Steps that did not finish within their timeout.",
                    status.steps_timed_out);
              total("tasker_worker_lease_extensions_total",
                    "Leases of running steps extended.",
                    status.lease_extensions);
              total("tasker_worker_results_unsent_total",
                    "Results that could not be sent (their steps run again).",
                    status.results_unsent);
              metrics
                  .gauge("tasker_worker_active_steps",
                         "Steps taken on now (claiming, running, sending).")
                  .set(static_cast<double>(status.active_steps));
            },
            [](caf::error&) {});
    for (const auto& events : api.event_systems)
      self->request(events, std::chrono::seconds{2},
                    channels::GetEventSystemStatus{})
          .receive(
              [&](channels::EventSystemStatus& status) {
                record_event_system(metrics, status);
              },
              [](caf::error&) {});
    record_queue_depths(metrics, api.provider, api.queues);
  });
}

} // namespace tasker::api
