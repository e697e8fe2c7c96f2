#pragma once

#include "config/task_template.hpp"
#include "core/result.hpp"
#include "messaging/queued_message.hpp"
#include "orchestration/step_state_machine.hpp"
#include "orchestration/task_state_machine.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/// What the task store keeps and hands out: tasks, their steps, transition
/// history, dead-letter entries, and the request that creates a task.
namespace tasker::orchestration {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

/// A step of a task, as stored.
struct StepRecord {
  std::string id;
  std::string task_id;
  /// The step's name in its template, unique within the task.
  std::string name;
  /// `handler.callable` and `handler.initialization` of the template.
  std::string handler;
  nlohmann::json handler_initialization;
  StepState state = StepState::pending;
  /// Attempts dispatched so far (incremented when the step is enqueued).
  int32_t attempts = 0;
  config::RetryPolicy retry;
  std::optional<int32_t> timeout_seconds;
  /// Ids of the steps this one depends on.
  std::vector<std::string> parents;
  /// The handler's result once complete; null before.
  nlohmann::json results;
  /// The last failure: `{"message", "kind", "retryable"}`; null when none.
  nlohmann::json last_error;
  /// When a step waiting for retry may run again.
  std::optional<TimePoint> next_retry_at;
  /// When it was last enqueued (timeouts count from here).
  std::optional<TimePoint> enqueued_at;
  std::optional<TimePoint> completed_at;
  TimePoint updated_at;
};

/// A task, as stored.
struct TaskRecord {
  std::string id;
  std::string namespace_name;
  std::string name;
  std::string version;
  nlohmann::json context;
  /// SHA-256 of the request's identity (`task_identity_hash`); unique.
  std::string identity_hash;
  std::optional<std::string> idempotency_key;
  int32_t priority = 0;
  std::string initiator;
  std::string source_system;
  std::string reason;
  TaskState state = TaskState::pending;
  /// Changes applied so far: the fence of decisions taken on a snapshot
  /// (`ChangeSet::expected_revision`).
  int64_t revision = 0;
  TimePoint created_at;
  /// When the task entered its current state.
  TimePoint state_since;
  std::optional<TimePoint> completed_at;
};

/// A task with its steps (in the template's topological order).
struct TaskSnapshot {
  TaskRecord task;
  std::vector<StepRecord> steps;

  /// The step named `name`, or null.
  const StepRecord* find_step(const std::string& name) const;

  /// The step with id `id`, or null.
  const StepRecord* step_by_id(const std::string& id) const;
};

/// One row of a task's or a step's append-only transition history.
struct TransitionRecord {
  std::string task_id;
  /// Empty for a task transition.
  std::string step_id;
  std::string from_state;
  std::string to_state;
  std::string event;
  nlohmann::json metadata;
  TimePoint at;
  /// The node that made the change.
  std::string node;
};

/// Why a task went to the dead-letter records.
enum class DeadLetterReason {
  staleness_timeout,
  max_retries_exceeded,
  manual,
};

/// Returns the stored spelling, e.g. "staleness_timeout".
std::string_view to_string(DeadLetterReason reason);

/// Where an operator's investigation of a dead-letter entry stands.
enum class DeadLetterResolution {
  pending,
  manually_resolved,
  permanently_failed,
  cancelled,
};

/// Returns the stored spelling, e.g. "manually_resolved".
std::string_view to_string(DeadLetterResolution resolution);

/// Parses a stored spelling of a resolution.
std::optional<DeadLetterResolution>
parse_dead_letter_resolution(std::string_view text);

/// An investigation record for a task that was given up; never requeued.
struct DeadLetterEntry {
  int64_t id = 0;
  std::string task_id;
  /// The task's state when it was dead-lettered.
  std::string original_state;
  DeadLetterReason reason = DeadLetterReason::manual;
  DeadLetterResolution resolution = DeadLetterResolution::pending;
  /// The task and its steps as they were.
  nlohmann::json snapshot;
  std::string notes;
  std::string resolved_by;
  TimePoint created_at;
  TimePoint updated_at;
};

/// A step of a task about to be created.
struct NewStep {
  std::string name;
  std::string handler;
  nlohmann::json handler_initialization;
  config::RetryPolicy retry;
  std::optional<int32_t> timeout_seconds;
  /// Names of the steps it depends on.
  std::vector<std::string> dependencies;
};

/// A validated request for a task: what `TaskStore::create_task` stores.
struct NewTask {
  std::string namespace_name;
  std::string name;
  std::string version;
  nlohmann::json context;
  std::string identity_hash;
  std::optional<std::string> idempotency_key;
  int32_t priority = 0;
  std::string initiator;
  std::string source_system;
  std::string reason;
  /// In topological order: every dependency comes before its dependents.
  std::vector<NewStep> steps;
  /// The task's id; empty: a new UUIDv7.
  std::string id;
};

/// A message committed together with a change set: sent in the same
/// transaction (PGMQ in the store's database) or through the outbox.
struct OutboundMessage {
  std::string queue;
  messaging::OutgoingMessage message;
};

/// JSON forms (dead-letter snapshots, and later the REST API): states as
/// their stored spellings, times as milliseconds since the epoch.
void to_json(nlohmann::json& out, const StepRecord& step);
void to_json(nlohmann::json& out, const TaskRecord& task);
void to_json(nlohmann::json& out, const TaskSnapshot& snapshot);

/// Lays out a task about to be stored: ids (UUIDv7 for `now`), records in
/// state `pending`, parents resolved by name. Fails, naming the step, when
/// the request has no steps, a step appears twice, or a dependency is not
/// an earlier step.
core::Result<TaskSnapshot> new_task_snapshot(const NewTask& request,
                                             TimePoint now);

/// The history a new task starts with: one `create` row for the task and
/// one per step.
std::vector<TransitionRecord> creation_history(const TaskSnapshot& snapshot,
                                               TimePoint now);

/// A message waiting in the outbox for the relay to send it.
struct OutboxEntry {
  int64_t id = 0;
  OutboundMessage outbound;
  TimePoint created_at;
};

} // namespace tasker::orchestration
