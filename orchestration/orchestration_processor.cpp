#include "orchestration/orchestration_processor.hpp"

#include "actors/event_system.hpp"
#include "orchestration/uuid_v7.hpp"

#include <nlohmann/json.hpp>

namespace tasker::orchestration {

OrchestrationProcessor::OrchestrationProcessor(
    caf::actor_config& cfg, TaskStoreHandle store,
    messaging::MessagingProvider provider,
    std::shared_ptr<const config::TemplateCatalog> catalog,
    OrchestrationProcessorOptions options)
    : channels::orchestration_processor_actor::base(cfg),
      store_(std::move(store)), provider_(std::move(provider)),
      catalog_(std::move(catalog)), options_(std::move(options)) {}

void OrchestrationProcessor::on_exit() {
  shards_.clear();
  relay_ = nullptr;
}

OrchestrationProcessor::behavior_type OrchestrationProcessor::make_behavior() {
  using namespace channels;
  bool blocking = store_.blocks() || actors::provider_blocks(provider_);
  if (blocking)
    relay_ = spawn<OutboxRelay, caf::linked + caf::detached>(store_, provider_,
                                                             options_.relay);
  else
    relay_ = spawn<OutboxRelay, caf::linked>(store_, provider_, options_.relay);
  auto self = caf::actor_cast<orchestration_processor_actor>(this);
  auto count = std::max<std::size_t>(options_.shards, 1);
  for (std::size_t i = 0; i < count; ++i) {
    auto shard_options = options_.shard;
    shard_options.index = i;
    shard_options.count = count;
    // Batches of creations save round trips; in memory they save nothing.
    shard_options.batch_creations = store_.blocks();
    if (blocking)
      shards_.push_back(spawn<TaskShard, caf::linked + caf::detached>(
          store_, provider_, catalog_, self, relay_, shard_options));
    else
      shards_.push_back(spawn<TaskShard, caf::linked>(
          store_, provider_, catalog_, self, relay_, shard_options));
  }
  return {
      [this](InitializeTask& command) {
        const auto& shard = creator_of(command.request.task_id);
        return delegate(shard, std::move(command));
      },
      [this](InitializeTaskFromMessage& command) {
        const auto& shard = creator_of(command.task_id);
        return delegate(shard, std::move(command));
      },
      [this](InitializeTaskFromMessageEvent& command) {
        const auto& shard = creator_of(command.task_id);
        return delegate(shard, std::move(command));
      },
      [this](ProcessStepResult& command) {
        return delegate(
            shards_[shard_of(command.result.task_id, shards_.size())],
            std::move(command));
      },
      [this](ProcessStepResultFromMessage& command) {
        return delegate(owner_of(command.message), std::move(command));
      },
      [this](ProcessStepResultFromMessageEvent& command) {
        return delegate(next_shard(), std::move(command));
      },
      [this](FinalizeTask& command) {
        return delegate(shards_[shard_of(command.task_id, shards_.size())],
                        std::move(command));
      },
      [this](FinalizeTaskFromMessage& command) {
        return delegate(owner_of(command.message), std::move(command));
      },
      [this](FinalizeTaskFromMessageEvent& command) {
        return delegate(next_shard(), std::move(command));
      },
      [this](CancelTask& command) {
        return delegate(shards_[shard_of(command.task_id, shards_.size())],
                        std::move(command));
      },
      [this](ApplyStepAction& command) {
        return delegate(shards_[shard_of(command.task_id, shards_.size())],
                        std::move(command));
      },
      [this](GetProcessingStats&) {
        // The sum over the shards.
        auto promise = make_response_promise<ProcessingStats>();
        auto total = std::make_shared<ProcessingStats>();
        auto left = std::make_shared<std::size_t>(shards_.size());
        for (const auto& shard : shards_)
          request(shard, caf::infinite, GetProcessingStats{})
              .then(
                  [promise, total, left](ProcessingStats& part) mutable {
                    total->tasks_initialized += part.tasks_initialized;
                    total->step_results_processed
                        += part.step_results_processed;
                    total->tasks_finalized += part.tasks_finalized;
                    total->commands_failed += part.commands_failed;
                    total->result_batches += part.result_batches;
                    total->creation_batches += part.creation_batches;
                    total->tasks_complete += part.tasks_complete;
                    total->tasks_error += part.tasks_error;
                    total->tasks_cancelled += part.tasks_cancelled;
                    total->tasks_resolved_manually
                        += part.tasks_resolved_manually;
                    if (--*left == 0)
                      promise.deliver(*total);
                  },
                  [promise](caf::error& err) mutable {
                    promise.deliver(std::move(err));
                  });
        return promise;
      },
      [this](OrchestrationHealthCheck& command) {
        return delegate(next_shard(), std::move(command));
      },
  };
}

const channels::orchestration_shard_actor&
OrchestrationProcessor::owner_of(const messaging::QueuedMessage& message) {
  auto doc = nlohmann::json::parse(message.payload, nullptr, false);
  if (doc.is_object()) {
    auto task_id = doc.find("task_id");
    if (task_id != doc.end() && task_id->is_string())
      return shards_[shard_of(task_id->get<std::string>(), shards_.size())];
  }
  return next_shard();
}

const channels::orchestration_shard_actor&
OrchestrationProcessor::creator_of(std::string& task_id) {
  if (task_id.empty())
    task_id = new_uuid_v7(options_.shard.now());
  return shards_[shard_of(task_id, shards_.size())];
}

const channels::orchestration_shard_actor&
OrchestrationProcessor::next_shard() {
  return shards_[next_++ % shards_.size()];
}

} // namespace tasker::orchestration
