#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace tasker::orchestration {

/// The lifecycle state of a workflow step, as stored in the database.
enum class StepState {
  /// Waiting for its dependencies or for orchestration to enqueue it.
  pending,
  /// Sent to its worker queue.
  enqueued,
  /// A worker recorded that it started the step.
  in_progress,
  /// A successful result waits for orchestration to process it.
  enqueued_for_orchestration,
  /// A failed result waits for orchestration to process it.
  enqueued_as_error_for_orchestration,
  /// The step failed and waits for its backoff to expire.
  waiting_for_retry,
  /// The step succeeded (terminal).
  complete,
  /// The step failed (not terminal: it can be retried or reset).
  error,
  /// The step was cancelled (terminal).
  cancelled,
  /// An operator closed the step by hand (terminal).
  resolved_manually,
};

/// What happened to a step; `next_state` decides where it leads.
enum class StepEvent {
  /// Send the step to its worker queue.
  enqueue,
  /// A worker started the step.
  start,
  /// A successful result arrived for orchestration.
  enqueue_for_orchestration,
  /// A failed result arrived for orchestration.
  enqueue_as_error_for_orchestration,
  /// Orchestration accepted the step's success.
  complete,
  /// Orchestration recorded the step's failure as final for this attempt.
  fail,
  /// Orchestration scheduled a retry after backoff.
  wait_for_retry,
  /// Make the step eligible to run again.
  retry,
  /// Make a failed step eligible again with its attempts reset to zero.
  reset_for_retry,
  /// An operator marks the step complete.
  complete_manually,
  /// An operator closes the step without completing it.
  resolve_manually,
  /// Stop the step.
  cancel,
};

/// Every step state, in declaration order.
inline constexpr std::array kAllStepStates{
    StepState::pending,
    StepState::enqueued,
    StepState::in_progress,
    StepState::enqueued_for_orchestration,
    StepState::enqueued_as_error_for_orchestration,
    StepState::waiting_for_retry,
    StepState::complete,
    StepState::error,
    StepState::cancelled,
    StepState::resolved_manually,
};

/// Every step event, in declaration order.
inline constexpr std::array kAllStepEvents{
    StepEvent::enqueue,
    StepEvent::start,
    StepEvent::enqueue_for_orchestration,
    StepEvent::enqueue_as_error_for_orchestration,
    StepEvent::complete,
    StepEvent::fail,
    StepEvent::wait_for_retry,
    StepEvent::retry,
    StepEvent::reset_for_retry,
    StepEvent::complete_manually,
    StepEvent::resolve_manually,
    StepEvent::cancel,
};

/// Returns the snake_case spelling stored in the database, e.g. "in_progress".
std::string_view to_string(StepState state);

/// Returns the snake_case spelling of the event, e.g. "wait_for_retry".
std::string_view to_string(StepEvent event);

/// Parses the exact snake_case spelling of a state; nullopt otherwise.
std::optional<StepState> parse_step_state(std::string_view text);

/// Parses the exact snake_case spelling of an event; nullopt otherwise.
std::optional<StepEvent> parse_step_event(std::string_view text);

/// True for complete, cancelled and resolved_manually; error is not terminal.
bool is_terminal(StepState state);

/// True for complete and resolved_manually: the states dependents wait for.
bool satisfies_dependency(StepState state);

/// Returns where `event` leads from `from`; nullopt when it is not allowed.
/// `retry` from error is always allowed here: the caller must first check
/// that the step can be retried (attempts left, retryable failure).
std::optional<StepState> next_state(StepState from, StepEvent event);

} // namespace tasker::orchestration
