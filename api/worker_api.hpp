#pragma once

#include "channels/actor_interfaces.hpp"
#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"
#include "web/metrics_registry.hpp"
#include "web/router.hpp"

#include <caf/actor_system.hpp>

#include <memory>
#include <string>
#include <vector>

/// The HTTP endpoints of a worker node: `/health`, `/health/ready` and
/// `/metrics`.
namespace tasker::api {

struct WorkerApi {
  caf::actor_system* system = nullptr;
  channels::worker_processor_actor processor;
  std::vector<channels::event_system_actor> event_systems;
  messaging::MessagingProvider provider;
  /// The queues the worker reads.
  std::vector<std::string> queues;
  std::shared_ptr<web::MetricsRegistry> metrics;
};

/// Adds the worker's health, readiness (provider reachable, every event
/// system answering, processor healthy) and metrics routes.
core::Result<void> add_worker_routes(web::Router& router, const WorkerApi& api);

/// Adds the collectors of the worker's metrics: step counters, running
/// steps, per-namespace saturation and queue depths.
void add_worker_metrics(const WorkerApi& api);

/// The buckets of `tasker_step_duration_seconds`.
std::vector<double> step_duration_buckets();

} // namespace tasker::api
