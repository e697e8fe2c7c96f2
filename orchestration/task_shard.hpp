#pragma once

#include "channels/actor_interfaces.hpp"
#include "config/template_catalog.hpp"
#include "messaging/messaging_provider.hpp"
#include "orchestration/jitter_source.hpp"
#include "orchestration/task_store_handle.hpp"
#include "orchestration/workflow_planner.hpp"

#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tasker::orchestration {

/// Which tasks a shard owns, and how it works.
struct TaskShardOptions {
  /// The node's name, recorded in the history.
  std::string node = "orchestration";
  /// Shard `index` of `count` owns the tasks whose id hashes to it.
  std::size_t index = 0;
  std::size_t count = 1;
  /// Lease taken when a shard claims a message by id.
  std::chrono::seconds visibility_timeout{30};
  /// Most step results in one batch (one store transaction).
  std::size_t max_batch = 256;
  /// Most tasks created in one batch (one store statement).
  std::size_t max_creations = 64;
  /// True: task requests wait for the next batch of creations, so those
  /// that arrive together are created with one store call (worth it when
  /// the call is a round trip); false: each is created at once.
  bool batch_creations = true;
  /// Re-plans after another node changed the task first.
  int32_t conflict_retries = 8;
  /// Unfinished tasks whose latest snapshot the shard keeps, so that a
  /// step result is decided without reading its task first (the write is
  /// guarded by the task's revision).
  std::size_t remembered_tasks = 2048;
  /// The time decisions are taken at (tests move it by hand).
  std::function<TimePoint()> now = [] {
    return Clock::now();
  };
};

/// Returns the shard of `count` that owns task `task_id`.
std::size_t shard_of(const std::string& task_id, std::size_t count);

/// The task request actor, result processor and finalizer of the tasks it
/// owns: commands for one task are handled by one shard, one at a time,
/// while shards run in parallel. It claims messages that are not leased
/// (`read_by_id`), decodes them, decides with the workflow planner and
/// applies the decision through the store's guards; on a conflict (another
/// node changed the task) it reloads and decides again. Step results that
/// arrive together are decided one after another on the evolving snapshot
/// and written in one `apply_batch`; task requests that arrive together
/// are created in one `create_tasks`. A message is acked only after its
/// effect committed (or when it proved a duplicate); one that cannot be
/// decoded is dead-lettered, naming the problem. A result found to belong
/// to another shard's task (read by id) is handed to `front` for routing.
class TaskShard : public channels::orchestration_shard_actor::base {
 public:
  TaskShard(caf::actor_config& cfg, TaskStoreHandle store,
            messaging::MessagingProvider provider,
            std::shared_ptr<const config::TemplateCatalog> catalog,
            channels::orchestration_processor_actor front,
            channels::outbox_relay_actor relay, TaskShardOptions options);

  const char* name() const override {
    return "task_shard";
  }

  behavior_type make_behavior() override;

  void on_exit() override;

 private:
  using ResultPromise
      = caf::typed_response_promise<channels::StepResultProcessed>;

  /// A step result waiting for the next batch.
  struct PendingResult {
    channels::StepResult result;
    /// The queued message to ack once decided; empty for direct commands.
    std::optional<std::pair<std::string, int64_t>> ack;
    ResultPromise promise;
  };

  using CreationPromise
      = caf::typed_response_promise<channels::TaskInitialized>;

  /// A task request waiting for the next batch of creations.
  struct PendingCreation {
    NewTask task;
    /// The queued request to ack, or dead-letter, once it is decided;
    /// empty for direct commands.
    std::optional<messaging::QueuedMessage> message;
    CreationPromise promise;
  };

  /// A message to act on: claimed (or leased already), or nothing.
  std::optional<messaging::QueuedMessage>
  claim(const messaging::QueuedMessage& message);
  std::optional<messaging::QueuedMessage> read(const std::string& queue,
                                               int64_t id);

  /// The task `request` asks for, laid out from its template.
  core::Result<NewTask> new_task_for(const channels::TaskRequest& request);
  /// Creates the task a queued request asks for, with id `task_id` (empty:
  /// the store draws one), with the next batch of creations.
  CreationPromise
  initialize_from(std::optional<messaging::QueuedMessage> message,
                  const std::string& task_id);
  /// Queues the creation `request` asks for, answered (and `message` acked
  /// or dead-lettered) once the batch it goes with is written; a request
  /// that names no template, or a bad context, is answered at once.
  CreationPromise
  enqueue_creation(std::optional<messaging::QueuedMessage> message,
                   const channels::TaskRequest& request);
  /// Creates the tasks of the requests waiting, in one store call, and
  /// answers them.
  void flush_creations();
  /// The answer to a request whose task the store created (or found).
  core::Result<channels::TaskInitialized>
  initialized(core::Result<CreatedTask> created);
  /// Answers a request, acking its message or dead-lettering it first.
  void settle(PendingCreation& pending,
              core::Result<channels::TaskInitialized> outcome);

  /// Decides a queued step result; claims it first when it came unleased,
  /// unless `decides_unclaimed`.
  ResultPromise accept_result(std::optional<messaging::QueuedMessage> message);
  void enqueue_result(PendingResult pending);
  /// Sends the shard `FlushBatches`, unless it is on its way.
  void schedule_flush();
  /// Works off the creations and the step results waiting.
  void flush();
  void flush_results();

  core::Result<channels::TaskFinalized> finalize(const std::string& task_id);
  core::Result<channels::TaskFinalized>
  finalize_from(std::optional<messaging::QueuedMessage> message);

  using Replan = std::function<core::Result<ChangeSet>(const TaskSnapshot&)>;

  /// Applies what an operator's action `plan` decides on the stored task
  /// (cancel, a step action), deciding again after a conflict.
  core::Result<channels::TaskFinalized>
  operator_action(const std::string& task_id, const Replan& plan);

  /// Applies `first` (or, when empty, what `replan` decides on the stored
  /// task), deciding again with `replan` after a conflict; returns the task
  /// after it.
  core::Result<TaskSnapshot> apply_with_retries(const std::string& task_id,
                                                std::optional<ChangeSet> first,
                                                const Replan& replan);

  void dead_letter(const messaging::QueuedMessage& message,
                   const std::string& why);
  void ack(const std::string& queue, int64_t id);
  void nudge_relay();
  PlanContext plan_context();

  /// Keeps `task` as the latest snapshot of an unfinished task; forgets a
  /// finished one.
  void remember(TaskSnapshot task);
  /// Counts `after` in `stats_` if it is a final state the task was not in
  /// (`before`; none for a task just created).
  void count_finished(std::optional<TaskState> before,
                      const TaskSnapshot& after);
  void forget(const std::string& task_id);
  /// Notes that a write of this shard deleted step result `msg_id`.
  void note_consumed(int64_t msg_id);
  /// Whether a result of `task_id` that came unclaimed is decided as is.
  bool decides_unclaimed(const std::string& task_id);
  std::shared_ptr<const TaskSnapshot> recall(const std::string& task_id) const;

  TaskStoreHandle store_;
  messaging::MessagingProvider provider_;
  std::shared_ptr<const config::TemplateCatalog> catalog_;
  channels::orchestration_processor_actor front_;
  channels::outbox_relay_actor relay_;
  TaskShardOptions options_;
  JitterSource jitter_;
  std::vector<PendingCreation> creations_;
  std::vector<PendingResult> pending_;
  bool flush_scheduled_ = false;
  std::unordered_map<std::string, std::shared_ptr<const TaskSnapshot>>
      remembered_;
  /// Task ids in the order remembered, oldest first (forgotten ones too).
  std::deque<std::string> remembered_order_;
  /// Ids of the step results this shard's writes deleted lately, oldest
  /// first: a poll may have claimed one of them while it was decided
  /// unclaimed, and that copy is then dropped instead of decided again.
  std::unordered_set<int64_t> consumed_;
  std::deque<int64_t> consumed_order_;
  /// Ids of the step results waiting in `pending_` or being decided.
  std::unordered_set<int64_t> pending_results_;
  channels::ProcessingStats stats_;
};

} // namespace tasker::orchestration
