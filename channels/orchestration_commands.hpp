#pragma once

#include "channels/messaging_inspect.hpp"
#include "messaging/queued_message.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

/// Commands the orchestration command processor accepts, and its replies.
/// Each command comes in three forms: the decoded payload, the full queued
/// message (`…FromMessage`, when a notification or a poll carried the
/// payload) and the queue plus message id (`…FromMessageEvent`, when only a
/// signal arrived and the processor fetches the message itself).
namespace tasker::channels {

// -- domain payloads ----------------------------------------------------------

/// A request to create a task from a named, versioned template.
struct TaskRequest {
  std::string namespace_name;
  std::string name;
  std::string version;
  /// The task's input context, a JSON document.
  std::string context_json;
  /// Requests with the same key create one task.
  std::string idempotency_key;
  int32_t priority = 0;
  std::string initiator;
  std::string source_system;
  std::string reason;
  /// The new task's id, drawn by the orchestration processor so that the
  /// shard owning that id creates the task (and remembers it); empty: the
  /// store draws one. Never read from clients.
  std::string task_id;

  friend bool operator==(const TaskRequest&, const TaskRequest&) = default;
};

/// Inspects a `TaskRequest`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TaskRequest& x) {
  return f(caf::meta::type_name("TaskRequest"), x.namespace_name, x.name,
           x.version, x.context_json, x.idempotency_key, x.priority,
           x.initiator, x.source_system, x.reason, x.task_id);
}

/// The outcome of one step attempt, as a worker reports it.
struct StepResult {
  std::string task_id;
  std::string step_id;
  /// The attempt this result belongs to, starting at 1.
  int32_t attempt = 0;
  bool success = false;
  /// The handler's result, a JSON document.
  std::string result_json;
  std::string error_message;
  /// Classifies a failure, e.g. "handler_timeout" or "handler_error".
  std::string error_type;
  bool retryable = false;
  /// A delay the handler asks for before the next attempt; 0 means none.
  int64_t backoff_hint_ms = 0;
  std::string worker_id;
  /// Microseconds since the Unix epoch.
  int64_t started_at_us = 0;
  /// Microseconds since the Unix epoch.
  int64_t completed_at_us = 0;

  friend bool operator==(const StepResult&, const StepResult&) = default;
};

/// Inspects a `StepResult`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepResult& x) {
  return f(caf::meta::type_name("StepResult"), x.task_id, x.step_id, x.attempt,
           x.success, x.result_json, x.error_message, x.error_type, x.retryable,
           x.backoff_hint_ms, x.worker_id, x.started_at_us, x.completed_at_us);
}

// -- task initialization ------------------------------------------------------

/// Create a task from a decoded request.
struct InitializeTask {
  TaskRequest request;

  friend bool operator==(const InitializeTask&, const InitializeTask&)
      = default;
};

/// Inspects an `InitializeTask`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, InitializeTask& x) {
  return f(caf::meta::type_name("InitializeTask"), x.request);
}

/// Create a task from a queued task request message.
struct InitializeTaskFromMessage {
  messaging::QueuedMessage message;
  /// As `TaskRequest::task_id`.
  std::string task_id;
};

/// Inspects an `InitializeTaskFromMessage`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        InitializeTaskFromMessage& x) {
  return f(caf::meta::type_name("InitializeTaskFromMessage"), x.message,
           x.task_id);
}

/// Fetch task request `msg_id` from `queue`, then create the task.
struct InitializeTaskFromMessageEvent {
  std::string queue;
  int64_t msg_id = 0;
  /// As `TaskRequest::task_id`.
  std::string task_id;

  friend bool operator==(const InitializeTaskFromMessageEvent&,
                         const InitializeTaskFromMessageEvent&)
      = default;
};

/// Inspects an `InitializeTaskFromMessageEvent`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        InitializeTaskFromMessageEvent& x) {
  return f(caf::meta::type_name("InitializeTaskFromMessageEvent"), x.queue,
           x.msg_id, x.task_id);
}

/// Reply to the three task initialization commands.
struct TaskInitialized {
  std::string task_id;
  /// False when the idempotency key matched an existing task.
  bool created = false;
  /// The created task as it stands once started, in its JSON form (as
  /// `GET /v1/tasks/{id}` shows it), so that no one reads it back; empty
  /// when nothing was created.
  std::string task_json;

  friend bool operator==(const TaskInitialized&, const TaskInitialized&)
      = default;
};

/// Inspects a `TaskInitialized`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TaskInitialized& x) {
  return f(caf::meta::type_name("TaskInitialized"), x.task_id, x.created,
           x.task_json);
}

// -- step results -------------------------------------------------------------

/// Apply a decoded step result.
struct ProcessStepResult {
  StepResult result;

  friend bool operator==(const ProcessStepResult&, const ProcessStepResult&)
      = default;
};

/// Inspects a `ProcessStepResult`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ProcessStepResult& x) {
  return f(caf::meta::type_name("ProcessStepResult"), x.result);
}

/// Apply a step result from a queued step result message.
struct ProcessStepResultFromMessage {
  messaging::QueuedMessage message;
};

/// Inspects a `ProcessStepResultFromMessage`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        ProcessStepResultFromMessage& x) {
  return f(caf::meta::type_name("ProcessStepResultFromMessage"), x.message);
}

/// Fetch step result `msg_id` from `queue`, then apply it.
struct ProcessStepResultFromMessageEvent {
  std::string queue;
  int64_t msg_id = 0;

  friend bool operator==(const ProcessStepResultFromMessageEvent&,
                         const ProcessStepResultFromMessageEvent&)
      = default;
};

/// Inspects a `ProcessStepResultFromMessageEvent`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        ProcessStepResultFromMessageEvent& x) {
  return f(caf::meta::type_name("ProcessStepResultFromMessageEvent"), x.queue,
           x.msg_id);
}

/// Reply to the three step result commands.
struct StepResultProcessed {
  std::string task_id;
  std::string step_id;
  /// False when the result was stale or a duplicate and changed nothing.
  bool applied = false;

  friend bool operator==(const StepResultProcessed&, const StepResultProcessed&)
      = default;
};

/// Inspects a `StepResultProcessed`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepResultProcessed& x) {
  return f(caf::meta::type_name("StepResultProcessed"), x.task_id, x.step_id,
           x.applied);
}

// -- task finalization --------------------------------------------------------

/// Finalize task `task_id` once all its steps have settled.
struct FinalizeTask {
  std::string task_id;

  friend bool operator==(const FinalizeTask&, const FinalizeTask&) = default;
};

/// Inspects a `FinalizeTask`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FinalizeTask& x) {
  return f(caf::meta::type_name("FinalizeTask"), x.task_id);
}

/// Finalize a task from a queued finalization message.
struct FinalizeTaskFromMessage {
  messaging::QueuedMessage message;
};

/// Inspects a `FinalizeTaskFromMessage`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        FinalizeTaskFromMessage& x) {
  return f(caf::meta::type_name("FinalizeTaskFromMessage"), x.message);
}

/// Fetch finalization message `msg_id` from `queue`, then finalize the task.
struct FinalizeTaskFromMessageEvent {
  std::string queue;
  int64_t msg_id = 0;

  friend bool operator==(const FinalizeTaskFromMessageEvent&,
                         const FinalizeTaskFromMessageEvent&)
      = default;
};

/// Inspects a `FinalizeTaskFromMessageEvent`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        FinalizeTaskFromMessageEvent& x) {
  return f(caf::meta::type_name("FinalizeTaskFromMessageEvent"), x.queue,
           x.msg_id);
}

/// Reply to the three finalization commands.
struct TaskFinalized {
  std::string task_id;
  /// False when another processor holds the finalization claim.
  bool finalized = false;
  /// The task's state after finalization, e.g. "complete" or "error".
  std::string final_status;
  /// Who holds the claim when `finalized` is false.
  std::string already_claimed_by;

  friend bool operator==(const TaskFinalized&, const TaskFinalized&) = default;
};

/// Inspects a `TaskFinalized`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TaskFinalized& x) {
  return f(caf::meta::type_name("TaskFinalized"), x.task_id, x.finalized,
           x.final_status, x.already_claimed_by);
}

// -- operator actions ---------------------------------------------------------

/// Cancel task `task_id`: no further step is dispatched; answered with
/// `TaskFinalized` (the task's state after).
struct CancelTask {
  std::string task_id;
  std::string reason;

  friend bool operator==(const CancelTask&, const CancelTask&) = default;
};

/// Inspects a `CancelTask`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CancelTask& x) {
  return f(caf::meta::type_name("CancelTask"), x.task_id, x.reason);
}

/// An operator's action on step `step_name` of task `task_id`:
/// "reset_for_retry", "resolve_manually" or "complete_manually" (with
/// `result_json`); answered with `TaskFinalized` (the task's state after).
struct ApplyStepAction {
  std::string task_id;
  std::string step_name;
  std::string action;
  /// The step's result for "complete_manually", a JSON document.
  std::string result_json;

  friend bool operator==(const ApplyStepAction&, const ApplyStepAction&)
      = default;
};

/// Inspects an `ApplyStepAction`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ApplyStepAction& x) {
  return f(caf::meta::type_name("ApplyStepAction"), x.task_id, x.step_name,
           x.action, x.result_json);
}

// -- stats and health ---------------------------------------------------------

/// Ask for the processor's counters.
struct GetProcessingStats {
  friend bool operator==(const GetProcessingStats&, const GetProcessingStats&)
      = default;
};

/// Inspects a `GetProcessingStats`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GetProcessingStats&) {
  return f(caf::meta::type_name("GetProcessingStats"));
}

/// The orchestration processor's counters since it started.
struct ProcessingStats {
  uint64_t tasks_initialized = 0;
  uint64_t step_results_processed = 0;
  uint64_t tasks_finalized = 0;
  /// Commands answered with an error.
  uint64_t commands_failed = 0;
  /// Batches the step results were decided and written in (fewer than
  /// results when they arrive in bursts).
  uint64_t result_batches = 0;
  /// Store calls the tasks were created in (fewer than tasks when requests
  /// arrive in bursts and the store blocks).
  uint64_t creation_batches = 0;
  /// Tasks this node brought to each final state (counted at the write
  /// that moved them there).
  uint64_t tasks_complete = 0;
  uint64_t tasks_error = 0;
  uint64_t tasks_cancelled = 0;
  uint64_t tasks_resolved_manually = 0;

  friend bool operator==(const ProcessingStats&, const ProcessingStats&)
      = default;
};

/// Inspects a `ProcessingStats`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ProcessingStats& x) {
  return f(caf::meta::type_name("ProcessingStats"), x.tasks_initialized,
           x.step_results_processed, x.tasks_finalized, x.commands_failed,
           x.result_batches, x.creation_batches, x.tasks_complete,
           x.tasks_error, x.tasks_cancelled, x.tasks_resolved_manually);
}

/// Ask for the orchestration processor's health.
struct OrchestrationHealthCheck {
  friend bool operator==(const OrchestrationHealthCheck&,
                         const OrchestrationHealthCheck&)
      = default;
};

/// Inspects an `OrchestrationHealthCheck`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        OrchestrationHealthCheck&) {
  return f(caf::meta::type_name("OrchestrationHealthCheck"));
}

/// The orchestration processor's health.
struct OrchestrationHealth {
  bool healthy = false;
  bool database_connected = false;
  bool queues_available = false;
  /// Commands accepted and not yet answered.
  int64_t in_flight = 0;
  int64_t max_in_flight = 0;
  /// Why the processor is unhealthy; empty when healthy.
  std::string detail;

  friend bool operator==(const OrchestrationHealth&, const OrchestrationHealth&)
      = default;
};

/// Inspects an `OrchestrationHealth`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, OrchestrationHealth& x) {
  return f(caf::meta::type_name("OrchestrationHealth"), x.healthy,
           x.database_connected, x.queues_available, x.in_flight,
           x.max_in_flight, x.detail);
}

} // namespace tasker::channels
