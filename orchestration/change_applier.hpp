#pragma once

#include "core/result.hpp"
#include "orchestration/change_set.hpp"
#include "orchestration/task_records.hpp"

#include <vector>

namespace tasker::orchestration {

/// A change set worked out against a snapshot: the task after it and the
/// history rows it adds.
struct AppliedChange {
  TaskSnapshot after;
  std::vector<TransitionRecord> transitions;
};

/// Applies `change` to `before` in memory, checking every guard: the rules
/// of `TaskStore::apply` in one place, for every store. A state or attempt
/// that moved on is `stale_transition`; an event the state machine does
/// not allow from the expected state, or a step of another task, is
/// `invalid_argument`. Both name the task, step, states and event.
core::Result<AppliedChange> apply_change(const TaskSnapshot& before,
                                         const ChangeSet& change);

} // namespace tasker::orchestration
