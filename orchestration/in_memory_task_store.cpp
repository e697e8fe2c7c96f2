#include "orchestration/in_memory_task_store.hpp"

#include "orchestration/change_applier.hpp"

#include <algorithm>
#include <deque>
#include <iterator>
#include <mutex>
#include <set>
#include <unordered_map>

namespace tasker::orchestration {

namespace {

core::Error no_such_task(const std::string& task_id) {
  return {core::ErrorCode::not_found, "task " + task_id + " does not exist"};
}

} // namespace

struct InMemoryTaskStore::State {
  explicit State(InMemoryTaskStoreOptions o) : options(o) {}

  InMemoryTaskStoreOptions options;
  std::mutex mutex;
  std::size_t loads = 0;
  std::unordered_map<std::string, TaskSnapshot> tasks;
  /// Task ids in creation order; forgotten ones stay until compacted.
  std::vector<std::string> order;
  /// Task ids in the order they finished (some since forgotten or moved
  /// on).
  std::deque<std::string> finished;
  std::unordered_map<std::string, std::string> by_identity;
  std::unordered_map<std::string, std::vector<TransitionRecord>> history;
  std::deque<OutboxEntry> outbox;
  int64_t next_outbox_id = 1;
  std::vector<DeadLetterEntry> dead_letters;

  core::Result<TaskSnapshot> apply_locked(const ChangeSet& change) {
    auto i = tasks.find(change.task_id);
    if (i == tasks.end())
      return no_such_task(change.task_id);
    auto applied = apply_change(i->second, change);
    if (!applied)
      return applied.error();
    // One pending investigation per task: a second give-up joins it.
    bool pending = std::any_of(
        dead_letters.begin(), dead_letters.end(), [&](const auto& entry) {
          return entry.task_id == change.task_id
                 && entry.resolution == DeadLetterResolution::pending;
        });
    if (change.dead_letter && !pending) {
      DeadLetterEntry entry;
      entry.id = static_cast<int64_t>(dead_letters.size()) + 1;
      entry.task_id = change.task_id;
      entry.original_state = std::string{to_string(i->second.task.state)};
      entry.reason = change.dead_letter->reason;
      entry.snapshot = i->second;
      entry.notes = change.dead_letter->notes;
      entry.created_at = entry.updated_at = change.at;
      dead_letters.push_back(std::move(entry));
    }
    for (const auto& message : change.messages)
      outbox.push_back({next_outbox_id++, message, change.at});
    auto& rows = history[change.task_id];
    rows.insert(rows.end(),
                std::make_move_iterator(applied->transitions.begin()),
                std::make_move_iterator(applied->transitions.end()));
    bool finishes = !is_terminal(i->second.task.state)
                    && is_terminal(applied->after.task.state);
    i->second = std::move(applied->after);
    core::Result<TaskSnapshot> out{i->second};
    if (finishes)
      note_finished(change.task_id);
    return out;
  }

  void note_finished(const std::string& task_id) {
    finished.push_back(task_id);
    const auto kept = options.finished_tasks_kept;
    while (kept != 0 && finished.size() > kept) {
      forget(finished.front());
      finished.pop_front();
    }
  }

  // Forgets a finished task, unless it moved on or awaits investigation.
  void forget(const std::string& task_id) {
    auto i = tasks.find(task_id);
    if (i == tasks.end() || !is_terminal(i->second.task.state))
      return;
    bool investigated = std::any_of(
        dead_letters.begin(), dead_letters.end(), [&](const auto& entry) {
          return entry.task_id == task_id
                 && entry.resolution == DeadLetterResolution::pending;
        });
    if (investigated)
      return;
    if (auto key = by_identity.find(i->second.task.identity_hash);
        key != by_identity.end() && key->second == task_id)
      by_identity.erase(key);
    history.erase(task_id);
    tasks.erase(i);
    if (order.size() > 2 * tasks.size() + 64)
      std::erase_if(order, [this](const std::string& id) {
        return !tasks.contains(id);
      });
  }

  /// The task of each id of `order` still kept, oldest first.
  template <class F>
  void each_task(F&& f) const {
    for (const auto& id : order)
      if (auto i = tasks.find(id); i != tasks.end())
        f(id, i->second);
  }
};

namespace {

bool is_stuck_in(const TaskRecord& task, TaskState state,
                 std::chrono::minutes limit, TimePoint now) {
  return task.state == state && task.state_since + limit <= now;
}

} // namespace

InMemoryTaskStore::InMemoryTaskStore(InMemoryTaskStoreOptions options)
    : state_(std::make_shared<State>(options)) {}

core::Result<CreatedTask>
InMemoryTaskStore::create_task(const NewTask& request,
                               const StartPlanner& start) {
  auto now = Clock::now();
  auto snapshot = new_task_snapshot(request, now);
  if (!snapshot)
    return snapshot.error();
  const auto id = snapshot->task.id;
  std::lock_guard<std::mutex> guard{state_->mutex};
  if (auto existing = state_->by_identity.find(request.identity_hash);
      existing != state_->by_identity.end())
    return CreatedTask{state_->tasks.at(existing->second), false};
  state_->history[id] = creation_history(*snapshot, now);
  state_->by_identity[request.identity_hash] = id;
  state_->order.push_back(id);
  auto& stored = state_->tasks[id] = std::move(*snapshot);
  if (start)
    if (auto change = start(stored))
      if (auto started = state_->apply_locked(*change))
        return CreatedTask{std::move(*started), true, true};
  return CreatedTask{stored, true};
}

std::vector<core::Result<CreatedTask>>
InMemoryTaskStore::create_tasks(std::span<const NewTask> requests,
                                const StartPlanner& start) {
  std::vector<core::Result<CreatedTask>> out;
  out.reserve(requests.size());
  for (const auto& request : requests)
    out.push_back(create_task(request, start));
  return out;
}

core::Result<TaskSnapshot> InMemoryTaskStore::load(const std::string& task_id) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  ++state_->loads;
  auto i = state_->tasks.find(task_id);
  if (i == state_->tasks.end())
    return no_such_task(task_id);
  return i->second;
}

core::Result<TaskState>
InMemoryTaskStore::task_state(const std::string& task_id) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto i = state_->tasks.find(task_id);
  if (i == state_->tasks.end())
    return no_such_task(task_id);
  return i->second.task.state;
}

std::size_t InMemoryTaskStore::loads() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->loads;
}

core::Result<TaskSnapshot> InMemoryTaskStore::apply(const ChangeSet& change) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->apply_locked(change);
}

std::vector<core::Result<TaskSnapshot>>
InMemoryTaskStore::apply_batch(const std::vector<ChangeSet>& changes) {
  std::vector<core::Result<TaskSnapshot>> out;
  out.reserve(changes.size());
  std::lock_guard<std::mutex> guard{state_->mutex};
  for (const auto& change : changes)
    out.push_back(state_->apply_locked(change));
  return out;
}

core::Result<std::vector<TransitionRecord>>
InMemoryTaskStore::history(const std::string& task_id) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto i = state_->history.find(task_id);
  if (i == state_->history.end())
    return no_such_task(task_id);
  return i->second;
}

core::Result<TaskPage> InMemoryTaskStore::list_tasks(const TaskQuery& query) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  TaskPage page;
  int64_t skipped = 0;
  for (auto i = state_->order.rbegin(); i != state_->order.rend(); ++i) {
    auto kept = state_->tasks.find(*i);
    if (kept == state_->tasks.end())
      continue;
    const auto& task = kept->second.task;
    if ((query.state && task.state != *query.state)
        || (query.namespace_name
            && task.namespace_name != *query.namespace_name)
        || (query.name && task.name != *query.name))
      continue;
    ++page.total;
    if (skipped < query.offset) {
      ++skipped;
      continue;
    }
    if (static_cast<int32_t>(page.tasks.size()) < query.limit)
      page.tasks.push_back(task);
  }
  return page;
}

core::Result<std::vector<OutboxEntry>>
InMemoryTaskStore::take_outbox(int32_t limit) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto count = std::min<std::size_t>(state_->outbox.size(),
                                     static_cast<std::size_t>(limit));
  return std::vector<OutboxEntry>(state_->outbox.begin(),
                                  state_->outbox.begin() + count);
}

core::Result<void>
InMemoryTaskStore::remove_outbox(const std::vector<int64_t>& ids) {
  std::set<int64_t> doomed{ids.begin(), ids.end()};
  std::lock_guard<std::mutex> guard{state_->mutex};
  std::erase_if(state_->outbox, [&](const OutboxEntry& entry) {
    return doomed.count(entry.id) > 0;
  });
  return {};
}

core::Result<std::vector<std::string>>
InMemoryTaskStore::due_retries(TimePoint now, int32_t limit) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  std::vector<std::string> out;
  state_->each_task([&](const std::string& id, const TaskSnapshot& snapshot) {
    if (is_terminal(snapshot.task.state))
      return;
    bool due = std::any_of(snapshot.steps.begin(), snapshot.steps.end(),
                           [&](const StepRecord& step) {
                             return step.state == StepState::waiting_for_retry
                                    && step.next_retry_at
                                    && *step.next_retry_at <= now;
                           });
    if (due && static_cast<int32_t>(out.size()) < limit)
      out.push_back(id);
  });
  return out;
}

core::Result<std::vector<OverdueStep>>
InMemoryTaskStore::overdue_steps(TimePoint now, std::chrono::seconds grace,
                                 int32_t limit) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  std::vector<OverdueStep> out;
  state_->each_task([&](const std::string& id, const TaskSnapshot& snapshot) {
    if (is_terminal(snapshot.task.state))
      return;
    for (const auto& step : snapshot.steps) {
      bool running = step.state == StepState::enqueued
                     || step.state == StepState::in_progress;
      if (!running || !step.timeout_seconds || !step.enqueued_at)
        continue;
      auto deadline = *step.enqueued_at
                      + std::chrono::seconds{*step.timeout_seconds} + grace;
      if (deadline <= now && static_cast<int32_t>(out.size()) < limit)
        out.push_back({id, step.id, step.attempts});
    }
  });
  return out;
}

core::Result<std::vector<std::string>>
InMemoryTaskStore::stale_tasks(TimePoint now, const StalenessLimits& limits,
                               int32_t limit) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  std::vector<std::string> out;
  state_->each_task([&](const std::string& id, const TaskSnapshot& snapshot) {
    const auto& task = snapshot.task;
    if (is_terminal(task.state))
      return;
    bool stale = is_stuck_in(task, TaskState::waiting_for_dependencies,
                             limits.waiting_for_dependencies, now)
                 || is_stuck_in(task, TaskState::waiting_for_retry,
                                limits.waiting_for_retry, now)
                 || is_stuck_in(task, TaskState::steps_in_process,
                                limits.steps_in_process, now)
                 || task.created_at + limits.lifetime <= now;
    if (stale && static_cast<int32_t>(out.size()) < limit)
      out.push_back(id);
  });
  return out;
}

core::Result<std::vector<DeadLetterEntry>>
InMemoryTaskStore::dead_letters(std::optional<DeadLetterResolution> resolution,
                                int32_t limit) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  std::vector<DeadLetterEntry> out;
  for (const auto& entry : state_->dead_letters)
    if ((!resolution || entry.resolution == *resolution)
        && static_cast<int32_t>(out.size()) < limit)
      out.push_back(entry);
  return out;
}

core::Result<DeadLetterEntry> InMemoryTaskStore::resolve_dead_letter(
    int64_t id, DeadLetterResolution resolution, const std::string& notes,
    const std::string& by) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  for (auto& entry : state_->dead_letters) {
    if (entry.id != id)
      continue;
    entry.resolution = resolution;
    entry.notes = notes;
    entry.resolved_by = by;
    entry.updated_at = Clock::now();
    return entry;
  }
  return core::Error{core::ErrorCode::not_found, "dead-letter entry "
                                                     + std::to_string(id)
                                                     + " does not exist"};
}

} // namespace tasker::orchestration
