#pragma once

#include "orchestration/task_records.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tasker::orchestration {

/// A guarded change of one step. It applies only while the step is in
/// `expected_state` (and has made `expected_attempts` attempts, when set:
/// the fence against a late result of an earlier attempt); then `events`
/// are applied in order, each allowed by the step state machine, every one
/// recorded in the history, and the set fields are written.
struct StepChange {
  std::string step_id;
  StepState expected_state = StepState::pending;
  std::optional<int32_t> expected_attempts;
  std::vector<StepEvent> events;
  std::optional<int32_t> attempts;
  std::optional<nlohmann::json> results;
  std::optional<nlohmann::json> last_error;
  /// Set: write `next_retry_at` (an empty inner value clears it).
  std::optional<std::optional<TimePoint>> next_retry_at;
  std::optional<TimePoint> enqueued_at;
  /// Recorded with each transition.
  nlohmann::json metadata;
};

/// A guarded change of the task's state: applies only while the task is in
/// `expected_state`; `events` apply in order, each recorded.
struct TaskChange {
  TaskState expected_state = TaskState::pending;
  std::vector<TaskEvent> events;
  nlohmann::json metadata;
};

/// A dead-letter record to create with a change set.
struct DeadLetterDraft {
  DeadLetterReason reason = DeadLetterReason::manual;
  std::string notes;
};

/// Everything one decision changes about one task, applied atomically by
/// `TaskStore::apply`: all guards hold and everything is written (messages
/// included), or nothing is.
struct ChangeSet {
  std::string task_id;
  /// The revision of the snapshot the change was decided on: set, the change
  /// applies only if nothing else changed the task since, because a
  /// decision depends on every step's state, not only on those it changes
  /// (two results decided at once on one snapshot would each see the other
  /// step still running, and neither would dispatch what follows both).
  std::optional<int64_t> expected_revision;
  /// The snapshot the change was decided on, at `expected_revision`, when
  /// the decider holds it: a store may then write without reading the task
  /// first, its write guarded by the revision (a task moved on meanwhile
  /// fails `stale_transition` as usual). Null: the store reads the task.
  std::shared_ptr<const TaskSnapshot> basis;
  std::optional<TaskChange> task;
  std::vector<StepChange> steps;
  /// Sent only if the change set commits (same transaction, or outbox).
  std::vector<OutboundMessage> messages;
  /// A message of the step results queue the change answers: a store that
  /// owns the queues deletes it with the change, if the change is written
  /// (the caller acks it otherwise).
  std::optional<int64_t> consumed_result;
  /// Creates a dead-letter entry with the task's snapshot before the change.
  std::optional<DeadLetterDraft> dead_letter;
  /// The node making the change, recorded in the history.
  std::string node;
  TimePoint at;
};

} // namespace tasker::orchestration
