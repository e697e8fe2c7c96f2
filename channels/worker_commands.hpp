#pragma once

#include "channels/messaging_inspect.hpp"
#include "messaging/queued_message.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

/// Commands the worker command processor accepts, and its replies.
namespace tasker::channels {

/// Execute the step described by a queued step message.
struct ExecuteStepFromMessage {
  messaging::QueuedMessage message;
};

/// Inspects an `ExecuteStepFromMessage`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        ExecuteStepFromMessage& x) {
  return f(caf::meta::type_name("ExecuteStepFromMessage"), x.message);
}

/// Fetch step message `msg_id` from `queue`, then execute the step.
struct ExecuteStepFromEvent {
  std::string queue;
  int64_t msg_id = 0;

  friend bool operator==(const ExecuteStepFromEvent&,
                         const ExecuteStepFromEvent&)
      = default;
};

/// Inspects an `ExecuteStepFromEvent`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ExecuteStepFromEvent& x) {
  return f(caf::meta::type_name("ExecuteStepFromEvent"), x.queue, x.msg_id);
}

/// Reply to both step execution commands.
struct StepExecuted {
  std::string task_id;
  std::string step_id;
  /// False when the step was not claimed (another worker holds it, or it is
  /// no longer enqueued); the handler did not run.
  bool claimed = false;
  /// Whether the handler succeeded; meaningful only when `claimed`.
  bool success = false;

  friend bool operator==(const StepExecuted&, const StepExecuted&) = default;
};

/// Inspects a `StepExecuted`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepExecuted& x) {
  return f(caf::meta::type_name("StepExecuted"), x.task_id, x.step_id,
           x.claimed, x.success);
}

/// Ask for the worker's counters.
struct GetWorkerStatus {
  friend bool operator==(const GetWorkerStatus&, const GetWorkerStatus&)
      = default;
};

/// Inspects a `GetWorkerStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GetWorkerStatus&) {
  return f(caf::meta::type_name("GetWorkerStatus"));
}

/// The worker's counters since it started.
struct WorkerStatus {
  std::string worker_id;
  uint64_t steps_received = 0;
  uint64_t steps_claimed = 0;
  uint64_t steps_succeeded = 0;
  uint64_t steps_failed = 0;
  /// Steps whose handler is running now.
  int64_t active_steps = 0;
  int64_t max_concurrent_steps = 0;

  friend bool operator==(const WorkerStatus&, const WorkerStatus&) = default;
};

/// Inspects a `WorkerStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, WorkerStatus& x) {
  return f(caf::meta::type_name("WorkerStatus"), x.worker_id, x.steps_received,
           x.steps_claimed, x.steps_succeeded, x.steps_failed, x.active_steps,
           x.max_concurrent_steps);
}

/// Ask for the worker's health.
struct WorkerHealthCheck {
  friend bool operator==(const WorkerHealthCheck&, const WorkerHealthCheck&)
      = default;
};

/// Inspects a `WorkerHealthCheck`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, WorkerHealthCheck&) {
  return f(caf::meta::type_name("WorkerHealthCheck"));
}

/// The worker's health.
struct WorkerHealth {
  bool healthy = false;
  bool database_connected = false;
  int64_t active_steps = 0;
  int64_t max_concurrent_steps = 0;
  /// Why the worker is unhealthy; empty when healthy.
  std::string detail;

  friend bool operator==(const WorkerHealth&, const WorkerHealth&) = default;
};

/// Inspects a `WorkerHealth`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, WorkerHealth& x) {
  return f(caf::meta::type_name("WorkerHealth"), x.healthy,
           x.database_connected, x.active_steps, x.max_concurrent_steps,
           x.detail);
}

/// Stop taking steps; the worker finishes running steps, then exits.
struct ShutdownWorker {
  friend bool operator==(const ShutdownWorker&, const ShutdownWorker&)
      = default;
};

/// Inspects a `ShutdownWorker`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ShutdownWorker&) {
  return f(caf::meta::type_name("ShutdownWorker"));
}

} // namespace tasker::channels
