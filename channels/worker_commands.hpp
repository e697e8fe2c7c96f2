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
  /// Failures whose handler did not finish within the step's timeout.
  uint64_t steps_timed_out = 0;
  /// Step messages that could not be decoded, moved to the dead letters.
  uint64_t steps_dead_lettered = 0;
  /// Results that could not be sent (their steps come back after the lease).
  uint64_t results_unsent = 0;
  uint64_t lease_extensions = 0;
  /// Steps taken on (claiming, running or sending) now.
  int64_t active_steps = 0;
  /// The sum of the namespaces' concurrency limits.
  int64_t max_concurrent_steps = 0;
  /// The most steps of one namespace that ran at once, over the namespace
  /// limit: never above 1.0.
  double peak_namespace_utilization = 0;

  friend bool operator==(const WorkerStatus&, const WorkerStatus&) = default;
};

/// Inspects a `WorkerStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, WorkerStatus& x) {
  return f(caf::meta::type_name("WorkerStatus"), x.worker_id, x.steps_received,
           x.steps_claimed, x.steps_succeeded, x.steps_failed,
           x.steps_timed_out, x.steps_dead_lettered, x.results_unsent,
           x.lease_extensions, x.active_steps, x.max_concurrent_steps,
           x.peak_namespace_utilization);
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

// -- worker internals ---------------------------------------------------------

/// A handler thread claimed and decoded step execution `execution`.
struct StepReady {
  uint64_t execution = 0;

  friend bool operator==(const StepReady&, const StepReady&) = default;
};

/// Inspects a `StepReady`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepReady& x) {
  return f(caf::meta::type_name("StepReady"), x.execution);
}

/// The handler of step execution `execution` returned; its result is
/// being sent (a `StepFinished` follows).
struct StepHandled {
  uint64_t execution = 0;

  friend bool operator==(const StepHandled&, const StepHandled&) = default;
};

/// Inspects a `StepHandled`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepHandled& x) {
  return f(caf::meta::type_name("StepHandled"), x.execution);
}

/// A handler thread is done with step execution `execution`.
struct StepFinished {
  uint64_t execution = 0;

  friend bool operator==(const StepFinished&, const StepFinished&) = default;
};

/// Inspects a `StepFinished`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepFinished& x) {
  return f(caf::meta::type_name("StepFinished"), x.execution);
}

/// The worker's deadline timer: act on the step deadlines now due.
struct DeadlinesDue {
  friend bool operator==(const DeadlinesDue&, const DeadlinesDue&) = default;
};

/// Inspects a `DeadlinesDue`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, DeadlinesDue&) {
  return f(caf::meta::type_name("DeadlinesDue"));
}

/// The worker's lease heartbeat: extend the messages of running steps.
struct LeaseTick {
  friend bool operator==(const LeaseTick&, const LeaseTick&) = default;
};

/// Inspects a `LeaseTick`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, LeaseTick&) {
  return f(caf::meta::type_name("LeaseTick"));
}

} // namespace tasker::channels
