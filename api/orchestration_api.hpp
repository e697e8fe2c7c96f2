#pragma once

#include "api/task_creator.hpp"
#include "channels/actor_interfaces.hpp"
#include "config/template_catalog.hpp"
#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"
#include "orchestration/task_store_handle.hpp"
#include "web/metrics_registry.hpp"
#include "web/router.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <memory>

/// The REST API of an orchestration node (docs/api.md): tasks, their steps,
/// operator actions, templates, dead letters, and the node's health and
/// metrics. Handlers run on the HTTP server's threads and ask the
/// orchestration processor (blocking on a reply, never on an actor thread)
/// or read the task store.
namespace tasker::api {

struct OrchestrationApi {
  caf::actor_system* system = nullptr;
  channels::orchestration_processor_actor processor;
  channels::event_system_actor event_system;
  orchestration::TaskStoreHandle store;
  messaging::MessagingProvider provider;
  std::shared_ptr<const config::TemplateCatalog> catalog;
  std::shared_ptr<web::MetricsRegistry> metrics;
  /// How long a request waits for the processor.
  std::chrono::milliseconds command_timeout{10000};
  /// Creates the tasks of `POST /v1/tasks` (the node closes it before its
  /// HTTP server stops).
  std::shared_ptr<TaskCreator> creator;
};

/// Adds every route of the orchestration node's API to `router`.
core::Result<void> add_orchestration_routes(web::Router& router,
                                            const OrchestrationApi& api);

/// Adds the collectors of the orchestration node's metrics: tasks by state,
/// queue depths, the event system's in-flight load, processed commands, and
/// pending dead letters.
void add_orchestration_metrics(const OrchestrationApi& api);

} // namespace tasker::api
