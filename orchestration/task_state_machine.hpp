#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace tasker::orchestration {

/// The lifecycle state of a task, as stored in `task_transitions`.
enum class TaskState {
  /// Created, not yet picked up by orchestration.
  pending,
  /// Orchestration is looking for the first ready steps.
  initializing,
  /// Ready steps are being sent to their worker queues.
  enqueuing_steps,
  /// Enqueued steps are running on workers.
  steps_in_process,
  /// Orchestration is deciding what step results mean for the task.
  evaluating_results,
  /// No step is ready; waiting for running dependencies to finish.
  waiting_for_dependencies,
  /// A step failed and waits for its backoff to expire.
  waiting_for_retry,
  /// A step failed permanently; the task cannot progress on its own.
  blocked_by_failures,
  /// Every step finished successfully (terminal).
  complete,
  /// The task failed (terminal, but can be reset or resolved manually).
  error,
  /// The task was cancelled (terminal).
  cancelled,
  /// An operator closed the task by hand (terminal).
  resolved_manually,
};

/// What happened to a task; `next_state` decides where it leads.
enum class TaskEvent {
  /// Orchestration picked the task up.
  start,
  /// Steps are ready to be enqueued.
  ready_steps_found,
  /// The task has no steps at all.
  no_steps_found,
  /// Steps remain but none has its dependencies satisfied.
  no_dependencies_ready,
  /// The ready steps were enqueued.
  steps_enqueued,
  /// The ready steps could not be enqueued.
  enqueue_failed,
  /// One step's result arrived.
  step_completed,
  /// The results of all running steps arrived.
  all_steps_completed,
  /// A step failed and can be retried.
  step_failed,
  /// The task finished while steps were in process.
  complete,
  /// The task failed while steps were in process.
  fail,
  /// Every step of the task succeeded.
  all_steps_successful,
  /// A step failed and cannot be retried.
  permanent_failure,
  /// Dependencies the task was waiting for are now satisfied.
  dependencies_ready,
  /// A failed step's backoff expired.
  retry_ready,
  /// Nobody will unblock the task; fail it.
  give_up,
  /// An operator resolved the failures blocking the task.
  manual_resolution,
  /// Stop the task.
  cancel,
  /// Restart a failed task from the beginning.
  reset,
  /// An operator closes the task by hand.
  resolve_manually,
  /// The staleness sweep gives up on a task stuck past its limits.
  expire,
};

/// Every task state, in declaration order.
inline constexpr std::array kAllTaskStates{
    TaskState::pending,
    TaskState::initializing,
    TaskState::enqueuing_steps,
    TaskState::steps_in_process,
    TaskState::evaluating_results,
    TaskState::waiting_for_dependencies,
    TaskState::waiting_for_retry,
    TaskState::blocked_by_failures,
    TaskState::complete,
    TaskState::error,
    TaskState::cancelled,
    TaskState::resolved_manually,
};

/// Every task event, in declaration order.
inline constexpr std::array kAllTaskEvents{
    TaskEvent::start,
    TaskEvent::ready_steps_found,
    TaskEvent::no_steps_found,
    TaskEvent::no_dependencies_ready,
    TaskEvent::steps_enqueued,
    TaskEvent::enqueue_failed,
    TaskEvent::step_completed,
    TaskEvent::all_steps_completed,
    TaskEvent::step_failed,
    TaskEvent::complete,
    TaskEvent::fail,
    TaskEvent::all_steps_successful,
    TaskEvent::permanent_failure,
    TaskEvent::dependencies_ready,
    TaskEvent::retry_ready,
    TaskEvent::give_up,
    TaskEvent::manual_resolution,
    TaskEvent::cancel,
    TaskEvent::reset,
    TaskEvent::resolve_manually,
    TaskEvent::expire,
};

/// Returns the snake_case spelling stored in the database, e.g. "pending".
std::string_view to_string(TaskState state);

/// Returns the snake_case spelling of the event, e.g. "ready_steps_found".
std::string_view to_string(TaskEvent event);

/// Parses the exact snake_case spelling of a state; nullopt otherwise.
std::optional<TaskState> parse_task_state(std::string_view text);

/// Parses the exact snake_case spelling of an event; nullopt otherwise.
std::optional<TaskEvent> parse_task_event(std::string_view text);

/// True for complete, error, cancelled and resolved_manually.
bool is_terminal(TaskState state);

/// Returns where `event` leads from `from`; nullopt when it is not allowed.
std::optional<TaskState> next_state(TaskState from, TaskEvent event);

} // namespace tasker::orchestration
