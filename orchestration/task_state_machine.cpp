#include "orchestration/task_state_machine.hpp"

namespace tasker::orchestration {

std::string_view to_string(TaskState state) {
  switch (state) {
    case TaskState::pending: return "pending";
    case TaskState::initializing: return "initializing";
    case TaskState::enqueuing_steps: return "enqueuing_steps";
    case TaskState::steps_in_process: return "steps_in_process";
    case TaskState::evaluating_results: return "evaluating_results";
    case TaskState::waiting_for_dependencies: return "waiting_for_dependencies";
    case TaskState::waiting_for_retry: return "waiting_for_retry";
    case TaskState::blocked_by_failures: return "blocked_by_failures";
    case TaskState::complete: return "complete";
    case TaskState::error: return "error";
    case TaskState::cancelled: return "cancelled";
    case TaskState::resolved_manually: return "resolved_manually";
  }
  return "unknown";
}

std::string_view to_string(TaskEvent event) {
  switch (event) {
    case TaskEvent::start: return "start";
    case TaskEvent::ready_steps_found: return "ready_steps_found";
    case TaskEvent::no_steps_found: return "no_steps_found";
    case TaskEvent::no_dependencies_ready: return "no_dependencies_ready";
    case TaskEvent::steps_enqueued: return "steps_enqueued";
    case TaskEvent::enqueue_failed: return "enqueue_failed";
    case TaskEvent::step_completed: return "step_completed";
    case TaskEvent::all_steps_completed: return "all_steps_completed";
    case TaskEvent::step_failed: return "step_failed";
    case TaskEvent::complete: return "complete";
    case TaskEvent::fail: return "fail";
    case TaskEvent::all_steps_successful: return "all_steps_successful";
    case TaskEvent::permanent_failure: return "permanent_failure";
    case TaskEvent::dependencies_ready: return "dependencies_ready";
    case TaskEvent::retry_ready: return "retry_ready";
    case TaskEvent::give_up: return "give_up";
    case TaskEvent::manual_resolution: return "manual_resolution";
    case TaskEvent::cancel: return "cancel";
    case TaskEvent::reset: return "reset";
    case TaskEvent::resolve_manually: return "resolve_manually";
    case TaskEvent::expire: return "expire";
  }
  return "unknown";
}

std::optional<TaskState> parse_task_state(std::string_view text) {
  for (auto state : kAllTaskStates) {
    if (to_string(state) == text) {
      return state;
    }
  }
  return std::nullopt;
}

std::optional<TaskEvent> parse_task_event(std::string_view text) {
  for (auto event : kAllTaskEvents) {
    if (to_string(event) == text) {
      return event;
    }
  }
  return std::nullopt;
}

bool is_terminal(TaskState state) {
  switch (state) {
    case TaskState::complete:
    case TaskState::error:
    case TaskState::cancelled:
    case TaskState::resolved_manually: return true;
    case TaskState::pending:
    case TaskState::initializing:
    case TaskState::enqueuing_steps:
    case TaskState::steps_in_process:
    case TaskState::evaluating_results:
    case TaskState::waiting_for_dependencies:
    case TaskState::waiting_for_retry:
    case TaskState::blocked_by_failures: return false;
  }
  return false;
}

std::optional<TaskState> next_state(TaskState from, TaskEvent event) {
  // Events allowed from many states first; the switch below holds the rest.
  switch (event) {
    case TaskEvent::cancel:
      if (is_terminal(from)) {
        return std::nullopt;
      }
      return TaskState::cancelled;
    case TaskEvent::reset:
      if (from != TaskState::error) {
        return std::nullopt;
      }
      return TaskState::pending;
    case TaskEvent::resolve_manually:
      if (is_terminal(from) && from != TaskState::error) {
        return std::nullopt;
      }
      return TaskState::resolved_manually;
    case TaskEvent::expire:
      if (is_terminal(from)) {
        return std::nullopt;
      }
      return TaskState::error;
    default: break;
  }
  switch (from) {
    case TaskState::pending:
      switch (event) {
        case TaskEvent::start: return TaskState::initializing;
        default: return std::nullopt;
      }
    case TaskState::initializing:
      switch (event) {
        case TaskEvent::ready_steps_found: return TaskState::enqueuing_steps;
        case TaskEvent::no_steps_found: return TaskState::complete;
        case TaskEvent::no_dependencies_ready:
          return TaskState::waiting_for_dependencies;
        default: return std::nullopt;
      }
    case TaskState::enqueuing_steps:
      switch (event) {
        case TaskEvent::steps_enqueued: return TaskState::steps_in_process;
        case TaskEvent::enqueue_failed: return TaskState::error;
        default: return std::nullopt;
      }
    case TaskState::steps_in_process:
      switch (event) {
        case TaskEvent::step_completed:
        case TaskEvent::all_steps_completed:
          return TaskState::evaluating_results;
        case TaskEvent::step_failed: return TaskState::waiting_for_retry;
        case TaskEvent::complete: return TaskState::complete;
        case TaskEvent::fail: return TaskState::error;
        default: return std::nullopt;
      }
    case TaskState::evaluating_results:
      // step_completed is rejected here: evaluation already covers it, and a
      // self loop would record a transition that changes nothing.
      switch (event) {
        case TaskEvent::all_steps_successful: return TaskState::complete;
        case TaskEvent::ready_steps_found: return TaskState::enqueuing_steps;
        case TaskEvent::no_dependencies_ready:
          return TaskState::waiting_for_dependencies;
        case TaskEvent::permanent_failure:
          return TaskState::blocked_by_failures;
        case TaskEvent::step_failed: return TaskState::waiting_for_retry;
        default: return std::nullopt;
      }
    case TaskState::waiting_for_dependencies:
      switch (event) {
        case TaskEvent::dependencies_ready:
          return TaskState::evaluating_results;
        default: return std::nullopt;
      }
    case TaskState::waiting_for_retry:
      switch (event) {
        case TaskEvent::retry_ready: return TaskState::enqueuing_steps;
        default: return std::nullopt;
      }
    case TaskState::blocked_by_failures:
      switch (event) {
        case TaskEvent::give_up: return TaskState::error;
        case TaskEvent::manual_resolution: return TaskState::resolved_manually;
        default: return std::nullopt;
      }
    case TaskState::complete:
    case TaskState::error:
    case TaskState::cancelled:
    case TaskState::resolved_manually: return std::nullopt;
  }
  return std::nullopt;
}

} // namespace tasker::orchestration
