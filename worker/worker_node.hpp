#pragma once

#include "channels/actor_interfaces.hpp"
#include "config/node_config.hpp"
#include "messaging/messaging_provider.hpp"
#include "worker/handler_registry.hpp"
#include "worker/worker_bootstrap.hpp"
#include "worker/worker_processor.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace tasker::worker {

/// The processor settings a node's configuration implies: the lease is the
/// worker event system's visibility timeout (the shorter RabbitMQ push
/// lease when that is shorter), extended every third of it.
WorkerProcessorOptions processor_options(const config::NodeConfig& config,
                                         const WorkerPlan& plan);

/// A running worker: the handler threads, the processor, and one event
/// system per namespace, whose in-flight limit is the namespace's
/// concurrency (so a full namespace stops reading its queue while the
/// others go on). Start it after `prepare_queues`.
class WorkerNode {
 public:
  /// `observe_step` is told of every handler run (see
  /// `WorkerProcessorOptions::observe_step`).
  WorkerNode(caf::actor_system& system, messaging::MessagingProvider provider,
             std::shared_ptr<const HandlerRegistry> registry,
             const WorkerPlan& plan, const config::NodeConfig& config,
             decltype(WorkerProcessorOptions::observe_step) observe_step = {});

  /// Shuts down with `config.worker.shutdown_timeout_ms` if not done yet.
  ~WorkerNode();

  WorkerNode(const WorkerNode&) = delete;
  WorkerNode& operator=(const WorkerNode&) = delete;

  channels::worker_processor_actor processor() const {
    return processor_;
  }

  const std::vector<channels::event_system_actor>& event_systems() const {
    return event_systems_;
  }

  /// Stops reading every queue, lets running steps finish for up to
  /// `deadline`, then stops the processor (steps still running are
  /// abandoned: their messages come back after their lease). Blocks.
  /// Returns true when every running step finished in time.
  bool shutdown(std::chrono::milliseconds deadline);

 private:
  caf::actor_system& system_;
  std::chrono::milliseconds default_deadline_;
  channels::worker_processor_actor processor_;
  std::vector<channels::event_system_actor> event_systems_;
  bool stopped_ = false;
};

} // namespace tasker::worker
