#pragma once

#include "channels/actor_interfaces.hpp"
#include "config/node_config.hpp"
#include "config/template_catalog.hpp"
#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"
#include "orchestration/orchestration_processor.hpp"
#include "orchestration/orchestration_sweeper.hpp"
#include "orchestration/task_store_handle.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace tasker::orchestration {

/// The store `orchestration.task_store` names (`auto`: in memory with the
/// in-memory provider, else PostgreSQL at `database.url`, connecting with
/// bounded retries). On PostgreSQL the messages of a change are sent with
/// PGMQ in the change's transaction when the queues live in the same
/// database, else through the outbox.
core::Result<TaskStoreHandle> open_task_store(const config::NodeConfig& config);

/// Creates the orchestration queues and every namespace queue of the
/// templates when missing (so steps can be dispatched before any worker
/// starts), then verifies them; a queue still missing or declared with
/// other properties fails naming it.
core::Result<void>
prepare_orchestration_queues(messaging::MessagingProvider& provider,
                             const config::TemplateCatalog& catalog);

/// The processor, sweeper and event-system settings a configuration
/// implies; `node` names this node in the task history.
OrchestrationProcessorOptions
processor_options(const config::NodeConfig& config, const std::string& node);
OrchestrationSweeperOptions sweeper_options(const config::NodeConfig& config,
                                            const std::string& node);

/// `orchestration-{host}-{pid}`.
std::string orchestration_node_name();

/// A running orchestration node: the processor (with its shards and outbox
/// relay), its event system over the three orchestration queues, and the
/// sweeper. Start it after `prepare_orchestration_queues`.
class OrchestrationNode {
 public:
  OrchestrationNode(caf::actor_system& system,
                    messaging::MessagingProvider provider,
                    TaskStoreHandle store,
                    std::shared_ptr<const config::TemplateCatalog> catalog,
                    const config::NodeConfig& config);

  /// Shuts down with `orchestration.shutdown_timeout_ms` if not done yet.
  ~OrchestrationNode();

  OrchestrationNode(const OrchestrationNode&) = delete;
  OrchestrationNode& operator=(const OrchestrationNode&) = delete;

  channels::orchestration_processor_actor processor() const {
    return processor_;
  }

  channels::event_system_actor event_system() const {
    return event_system_;
  }

  const TaskStoreHandle& store() const {
    return store_;
  }

  /// Stops reading, lets commands in flight finish for up to `deadline`,
  /// then stops the sweeper and the processor. Blocks. Returns true when
  /// everything in flight finished.
  bool shutdown(std::chrono::milliseconds deadline);

 private:
  caf::actor_system& system_;
  TaskStoreHandle store_;
  std::chrono::milliseconds default_deadline_;
  channels::orchestration_processor_actor processor_;
  channels::event_system_actor event_system_;
  channels::orchestration_sweeper_actor sweeper_;
  bool stopped_ = false;
};

} // namespace tasker::orchestration
