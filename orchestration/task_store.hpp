#pragma once

#include "core/result.hpp"
#include "orchestration/change_set.hpp"
#include "orchestration/task_records.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tasker::orchestration {

/// Works out the change that starts a task (dispatches its first steps)
/// from the task as it is created.
using StartPlanner
    = std::function<core::Result<ChangeSet>(const TaskSnapshot&)>;

/// The outcome of `create_task`.
struct CreatedTask {
  TaskSnapshot snapshot;
  /// False when a task with the same identity existed: it is returned.
  bool created = false;
  /// The start was written with the creation: `snapshot` is the task after
  /// it.
  bool started = false;
};

/// A filter and a page for listing tasks, newest first.
struct TaskQuery {
  std::optional<TaskState> state;
  std::optional<std::string> namespace_name;
  std::optional<std::string> name;
  int32_t limit = 50;
  int64_t offset = 0;
};

/// One page of tasks and how many match in all.
struct TaskPage {
  std::vector<TaskRecord> tasks;
  int64_t total = 0;
};

/// A dispatched step that ran past its timeout.
struct OverdueStep {
  std::string task_id;
  std::string step_id;
  /// The attempt that is overdue (the guard of its timeout failure).
  int32_t attempts = 0;
};

/// How long a task may stay in a state before the staleness sweep gives it
/// up, and how long it may live at all.
struct StalenessLimits {
  std::chrono::minutes waiting_for_dependencies{60};
  std::chrono::minutes waiting_for_retry{30};
  std::chrono::minutes steps_in_process{30};
  std::chrono::minutes lifetime{24 * 60};
};

/// Where workflow state lives (the reference's `tasker` schema). Semantics,
/// checked by the shared store suite (tests/conformance/task_store_suite):
/// - `create_task` writes task, steps, edges and their initial history in
///   one transaction; a second request with the same identity hash returns
///   the first task with `created == false`.
/// - `create_task` with a `StartPlanner` writes the task together with its
///   start, when it creates the task and the start can be worked out (one
///   commit instead of two); else it only creates it (`started` false). The
///   planner may run on a request whose task exists; nothing it planned is
///   written then.
/// - `create_tasks` creates several tasks as `create_task` does, in as few
///   transactions as the store can; an outcome per request, in order, and
///   one failing does not fail the others.
/// - `apply` is atomic and guarded: if any guard of the change set fails
///   (a state or attempt that moved on, an event the state machine does not
///   allow) nothing is written, no message is sent, and the error is
///   `stale_transition` naming the guard. It returns the task as it is
///   after the change.
/// - `apply_batch` applies each change set on its own terms (one failing
///   does not undo the others) in as few transactions as the store can.
/// - Messages of a change set are sent only if it commits: in the same
///   transaction when the store owns the queues, else through the outbox
///   (`take_outbox` / `remove_outbox`, drained by a relay actor).
/// - History is append-only: one row per event applied.
template <class S>
concept TaskStore
    = requires(S& s, const NewTask& new_task,
               std::span<const NewTask> new_tasks, const StartPlanner& start,
               const std::string& id, const ChangeSet& change,
               const std::vector<ChangeSet>& batch, const TaskQuery& query,
               TimePoint now, std::chrono::seconds grace,
               const StalenessLimits& limits, int32_t limit,
               const std::vector<int64_t>& ids,
               DeadLetterResolution resolution) {
  { s.create_task(new_task, start) } -> std::same_as<core::Result<CreatedTask>>;
  {
    s.create_tasks(new_tasks, start)
    } -> std::same_as<std::vector<core::Result<CreatedTask>>>;
  { s.load(id) } -> std::same_as<core::Result<TaskSnapshot>>;
  { s.task_state(id) } -> std::same_as<core::Result<TaskState>>;
  { s.apply(change) } -> std::same_as<core::Result<TaskSnapshot>>;
  {
    s.apply_batch(batch)
    } -> std::same_as<std::vector<core::Result<TaskSnapshot>>>;
  {
    s.history(id)
    } -> std::same_as<core::Result<std::vector<TransitionRecord>>>;
  { s.list_tasks(query) } -> std::same_as<core::Result<TaskPage>>;
  // -- outbox --
  {
    s.take_outbox(limit)
    } -> std::same_as<core::Result<std::vector<OutboxEntry>>>;
  { s.remove_outbox(ids) } -> std::same_as<core::Result<void>>;
  { s.sends_with_outbox() } -> std::same_as<bool>;
  // -- due work for the sweepers --
  {
    s.due_retries(now, limit)
    } -> std::same_as<core::Result<std::vector<std::string>>>;
  {
    s.overdue_steps(now, grace, limit)
    } -> std::same_as<core::Result<std::vector<OverdueStep>>>;
  {
    s.stale_tasks(now, limits, limit)
    } -> std::same_as<core::Result<std::vector<std::string>>>;
  // -- dead letters --
  {
    s.dead_letters(std::optional<DeadLetterResolution>{}, limit)
    } -> std::same_as<core::Result<std::vector<DeadLetterEntry>>>;
  {
    s.resolve_dead_letter(int64_t{}, resolution, std::string{}, std::string{})
    } -> std::same_as<core::Result<DeadLetterEntry>>;
};

} // namespace tasker::orchestration
