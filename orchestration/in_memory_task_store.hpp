#pragma once

#include "orchestration/task_store.hpp"

#include <cstddef>
#include <memory>
#include <span>

namespace tasker::orchestration {

struct InMemoryTaskStoreOptions {
  /// Finished tasks (complete, error, cancelled, resolved manually) kept
  /// for reads; beyond it the longest finished are forgotten, history and
  /// idempotency key with them, unless a dead letter of theirs is pending.
  /// 0 keeps every one.
  std::size_t finished_tasks_kept = 10000;
};

/// The embedded default store: workflow state in process memory, lost on
/// exit. Thread-safe (one lock), exact, and held to the same suite as the
/// PostgreSQL store. Messages of a change set go to its outbox. Memory
/// stays bounded: it forgets the longest-finished tasks beyond
/// `finished_tasks_kept`. A cheap handle: copies share one store.
class InMemoryTaskStore {
 public:
  explicit InMemoryTaskStore(InMemoryTaskStoreOptions options = {});

  core::Result<CreatedTask> create_task(const NewTask& request,
                                        const StartPlanner& start = {});
  /// One `create_task` after another.
  std::vector<core::Result<CreatedTask>>
  create_tasks(std::span<const NewTask> requests,
               const StartPlanner& start = {});
  core::Result<TaskSnapshot> load(const std::string& task_id);
  /// How many times `load` ran: deciding a result the shard remembers the
  /// task of reads nothing, which tests check.
  std::size_t loads() const;
  core::Result<TaskState> task_state(const std::string& task_id);
  core::Result<TaskSnapshot> apply(const ChangeSet& change);
  std::vector<core::Result<TaskSnapshot>>
  apply_batch(const std::vector<ChangeSet>& changes);
  core::Result<std::vector<TransitionRecord>>
  history(const std::string& task_id);
  core::Result<TaskPage> list_tasks(const TaskQuery& query);

  core::Result<std::vector<OutboxEntry>> take_outbox(int32_t limit);
  core::Result<void> remove_outbox(const std::vector<int64_t>& ids);
  /// Always: the in-memory store cannot send in its own transaction.
  bool sends_with_outbox() const {
    return true;
  }

  core::Result<std::vector<std::string>> due_retries(TimePoint now,
                                                     int32_t limit);
  core::Result<std::vector<OverdueStep>>
  overdue_steps(TimePoint now, std::chrono::seconds grace, int32_t limit);
  core::Result<std::vector<std::string>>
  stale_tasks(TimePoint now, const StalenessLimits& limits, int32_t limit);

  core::Result<std::vector<DeadLetterEntry>>
  dead_letters(std::optional<DeadLetterResolution> resolution, int32_t limit);
  core::Result<DeadLetterEntry>
  resolve_dead_letter(int64_t id, DeadLetterResolution resolution,
                      const std::string& notes, const std::string& by);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

static_assert(TaskStore<InMemoryTaskStore>);

} // namespace tasker::orchestration
