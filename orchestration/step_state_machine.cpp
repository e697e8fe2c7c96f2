#include "orchestration/step_state_machine.hpp"

namespace tasker::orchestration {

std::string_view to_string(StepState state) {
  switch (state) {
    case StepState::pending: return "pending";
    case StepState::enqueued: return "enqueued";
    case StepState::in_progress: return "in_progress";
    case StepState::enqueued_for_orchestration:
      return "enqueued_for_orchestration";
    case StepState::enqueued_as_error_for_orchestration:
      return "enqueued_as_error_for_orchestration";
    case StepState::waiting_for_retry: return "waiting_for_retry";
    case StepState::complete: return "complete";
    case StepState::error: return "error";
    case StepState::cancelled: return "cancelled";
    case StepState::resolved_manually: return "resolved_manually";
  }
  return "unknown";
}

std::string_view to_string(StepEvent event) {
  switch (event) {
    case StepEvent::enqueue: return "enqueue";
    case StepEvent::start: return "start";
    case StepEvent::enqueue_for_orchestration:
      return "enqueue_for_orchestration";
    case StepEvent::enqueue_as_error_for_orchestration:
      return "enqueue_as_error_for_orchestration";
    case StepEvent::complete: return "complete";
    case StepEvent::fail: return "fail";
    case StepEvent::wait_for_retry: return "wait_for_retry";
    case StepEvent::retry: return "retry";
    case StepEvent::reset_for_retry: return "reset_for_retry";
    case StepEvent::complete_manually: return "complete_manually";
    case StepEvent::resolve_manually: return "resolve_manually";
    case StepEvent::cancel: return "cancel";
  }
  return "unknown";
}

std::optional<StepState> parse_step_state(std::string_view text) {
  for (auto state : kAllStepStates) {
    if (to_string(state) == text) {
      return state;
    }
  }
  return std::nullopt;
}

std::optional<StepEvent> parse_step_event(std::string_view text) {
  for (auto event : kAllStepEvents) {
    if (to_string(event) == text) {
      return event;
    }
  }
  return std::nullopt;
}

bool is_terminal(StepState state) {
  switch (state) {
    case StepState::complete:
    case StepState::cancelled:
    case StepState::resolved_manually: return true;
    case StepState::pending:
    case StepState::enqueued:
    case StepState::in_progress:
    case StepState::enqueued_for_orchestration:
    case StepState::enqueued_as_error_for_orchestration:
    case StepState::waiting_for_retry:
    case StepState::error: return false;
  }
  return false;
}

bool satisfies_dependency(StepState state) {
  return state == StepState::complete || state == StepState::resolved_manually;
}

// Legacy pending/enqueued/in_progress -> complete/error are left out: manual
// completion covers the legitimate uses; the rest bypass the result path.
std::optional<StepState> next_state(StepState from, StepEvent event) {
  // Events allowed from every non-terminal state first; the switch below
  // holds the rest.
  switch (event) {
    case StepEvent::complete_manually:
      if (is_terminal(from)) {
        return std::nullopt;
      }
      return StepState::complete;
    case StepEvent::resolve_manually:
      if (is_terminal(from)) {
        return std::nullopt;
      }
      return StepState::resolved_manually;
    case StepEvent::cancel:
      if (is_terminal(from)) {
        return std::nullopt;
      }
      return StepState::cancelled;
    default: break;
  }
  switch (from) {
    case StepState::pending:
      // No legacy pending+start: a step starts only after it was enqueued.
      switch (event) {
        case StepEvent::enqueue: return StepState::enqueued;
        default: return std::nullopt;
      }
    case StepState::enqueued:
      // Workers never write to the database, so a result may arrive for a
      // step whose start was never recorded.
      switch (event) {
        case StepEvent::start: return StepState::in_progress;
        case StepEvent::enqueue_for_orchestration:
          return StepState::enqueued_for_orchestration;
        case StepEvent::enqueue_as_error_for_orchestration:
          return StepState::enqueued_as_error_for_orchestration;
        default: return std::nullopt;
      }
    case StepState::in_progress:
      switch (event) {
        case StepEvent::enqueue_for_orchestration:
          return StepState::enqueued_for_orchestration;
        case StepEvent::enqueue_as_error_for_orchestration:
          return StepState::enqueued_as_error_for_orchestration;
        default: return std::nullopt;
      }
    case StepState::enqueued_for_orchestration:
      switch (event) {
        case StepEvent::complete: return StepState::complete;
        case StepEvent::fail: return StepState::error;
        default: return std::nullopt;
      }
    case StepState::enqueued_as_error_for_orchestration:
      switch (event) {
        case StepEvent::wait_for_retry: return StepState::waiting_for_retry;
        case StepEvent::fail: return StepState::error;
        case StepEvent::complete: return StepState::complete;
        default: return std::nullopt;
      }
    case StepState::waiting_for_retry:
      switch (event) {
        case StepEvent::retry: return StepState::pending;
        default: return std::nullopt;
      }
    case StepState::error:
      // Whether the step can still be retried is the caller's guard.
      switch (event) {
        case StepEvent::retry:
        case StepEvent::reset_for_retry: return StepState::pending;
        default: return std::nullopt;
      }
    case StepState::complete:
    case StepState::cancelled:
    case StepState::resolved_manually: return std::nullopt;
  }
  return std::nullopt;
}

} // namespace tasker::orchestration
