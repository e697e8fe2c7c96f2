#pragma once

#include "channels/actor_interfaces.hpp"
#include "config/template_catalog.hpp"
#include "messaging/messaging_provider.hpp"
#include "orchestration/outbox_relay.hpp"
#include "orchestration/task_shard.hpp"
#include "orchestration/task_store_handle.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace tasker::orchestration {

struct OrchestrationProcessorOptions {
  /// Shards working in parallel (each serializes its own tasks).
  std::size_t shards = 4;
  /// Options of every shard (`index` and `count` are set per shard).
  TaskShardOptions shard;
  OutboxRelayOptions relay;
};

/// The orchestration command processor the event system feeds: it routes
/// each command to the shard owning its task (step results and
/// finalizations by the task id in the message; task requests to the
/// shard owning the id it draws for the new task; signal-only events to
/// any shard, which reads them and hands them on)
/// and answers with the shard's reply. It starts the shards and the outbox
/// relay, linked to itself; they run detached when the store or the
/// provider blocks on the network.
class OrchestrationProcessor
    : public channels::orchestration_processor_actor::base {
 public:
  OrchestrationProcessor(caf::actor_config& cfg, TaskStoreHandle store,
                         messaging::MessagingProvider provider,
                         std::shared_ptr<const config::TemplateCatalog> catalog,
                         OrchestrationProcessorOptions options);

  const char* name() const override {
    return "orchestration_processor";
  }

  behavior_type make_behavior() override;

  void on_exit() override;

 private:
  /// The shard owning the task a queued message names; any shard when the
  /// message does not name one (it will dead-letter it).
  const channels::orchestration_shard_actor&
  owner_of(const messaging::QueuedMessage& message);
  /// The shard owning `task_id`, which it draws when empty: a new task is
  /// created by the shard its results will go to.
  const channels::orchestration_shard_actor& creator_of(std::string& task_id);
  const channels::orchestration_shard_actor& next_shard();

  TaskStoreHandle store_;
  messaging::MessagingProvider provider_;
  std::shared_ptr<const config::TemplateCatalog> catalog_;
  OrchestrationProcessorOptions options_;
  std::vector<channels::orchestration_shard_actor> shards_;
  channels::outbox_relay_actor relay_;
  std::size_t next_ = 0;
};

} // namespace tasker::orchestration
