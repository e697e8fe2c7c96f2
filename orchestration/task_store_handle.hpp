#pragma once

#include "orchestration/in_memory_task_store.hpp"
#include "orchestration/pg_task_store.hpp"
#include "orchestration/task_completion_watch.hpp"
#include "orchestration/task_store.hpp"

#include <memory>
#include <utility>
#include <variant>

namespace tasker::orchestration {

/// One of the concrete task stores, chosen at run time; every operation
/// goes through `visit`, like `messaging::MessagingProvider`. A cheap
/// handle: copies share the store.
class TaskStoreHandle {
 public:
  using Variant = std::variant<InMemoryTaskStore, PgTaskStore>;

  template <class Store>
  requires TaskStore<Store>
  explicit TaskStoreHandle(Store store)
      : impl_(std::move(store)),
        completions_(std::make_shared<TaskCompletionWatch>()) {}

  /// Told of every task a change applied through this handle (or a copy)
  /// leaves final.
  TaskCompletionWatch& completions() const {
    return *completions_;
  }

  /// Calls `f` with the concrete store.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), impl_);
  }

  /// True when calls may block on the network (actors using it then run
  /// detached).
  bool blocks() const {
    return !std::holds_alternative<InMemoryTaskStore>(impl_);
  }

  core::Result<CreatedTask> create_task(const NewTask& request,
                                        const StartPlanner& start = {}) {
    auto created = visit([&](auto& s) {
      return s.create_task(request, start);
    });
    if (created && created->started)
      completions_->report(created->snapshot);
    return created;
  }

  std::vector<core::Result<CreatedTask>>
  create_tasks(std::span<const NewTask> requests,
               const StartPlanner& start = {}) {
    auto created = visit([&](auto& s) {
      return s.create_tasks(requests, start);
    });
    for (const auto& task : created)
      if (task && task->started)
        completions_->report(task->snapshot);
    return created;
  }

  core::Result<TaskSnapshot> load(const std::string& task_id) {
    return visit([&](auto& s) {
      return s.load(task_id);
    });
  }

  core::Result<TaskState> task_state(const std::string& task_id) {
    return visit([&](auto& s) {
      return s.task_state(task_id);
    });
  }

  core::Result<TaskSnapshot> apply(const ChangeSet& change) {
    auto applied = visit([&](auto& s) {
      return s.apply(change);
    });
    if (applied)
      completions_->report(*applied);
    return applied;
  }

  std::vector<core::Result<TaskSnapshot>>
  apply_batch(const std::vector<ChangeSet>& changes) {
    auto applied = visit([&](auto& s) {
      return s.apply_batch(changes);
    });
    for (const auto& task : applied)
      if (task)
        completions_->report(*task);
    return applied;
  }

  core::Result<std::vector<TransitionRecord>>
  history(const std::string& task_id) {
    return visit([&](auto& s) {
      return s.history(task_id);
    });
  }

  core::Result<TaskPage> list_tasks(const TaskQuery& query) {
    return visit([&](auto& s) {
      return s.list_tasks(query);
    });
  }

  core::Result<std::vector<OutboxEntry>> take_outbox(int32_t limit) {
    return visit([&](auto& s) {
      return s.take_outbox(limit);
    });
  }

  core::Result<void> remove_outbox(const std::vector<int64_t>& ids) {
    return visit([&](auto& s) {
      return s.remove_outbox(ids);
    });
  }

  bool sends_with_outbox() {
    return visit([](auto& s) {
      return s.sends_with_outbox();
    });
  }

  core::Result<std::vector<std::string>> due_retries(TimePoint now,
                                                     int32_t limit) {
    return visit([&](auto& s) {
      return s.due_retries(now, limit);
    });
  }

  core::Result<std::vector<OverdueStep>>
  overdue_steps(TimePoint now, std::chrono::seconds grace, int32_t limit) {
    return visit([&](auto& s) {
      return s.overdue_steps(now, grace, limit);
    });
  }

  core::Result<std::vector<std::string>>
  stale_tasks(TimePoint now, const StalenessLimits& limits, int32_t limit) {
    return visit([&](auto& s) {
      return s.stale_tasks(now, limits, limit);
    });
  }

  core::Result<std::vector<DeadLetterEntry>>
  dead_letters(std::optional<DeadLetterResolution> resolution, int32_t limit) {
    return visit([&](auto& s) {
      return s.dead_letters(resolution, limit);
    });
  }

  core::Result<DeadLetterEntry>
  resolve_dead_letter(int64_t id, DeadLetterResolution resolution,
                      const std::string& notes, const std::string& by) {
    return visit([&](auto& s) {
      return s.resolve_dead_letter(id, resolution, notes, by);
    });
  }

 private:
  Variant impl_;
  std::shared_ptr<TaskCompletionWatch> completions_;
};

static_assert(TaskStore<TaskStoreHandle>);

} // namespace tasker::orchestration
