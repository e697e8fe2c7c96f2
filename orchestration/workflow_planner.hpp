#pragma once

#include "channels/orchestration_commands.hpp"
#include "core/result.hpp"
#include "orchestration/change_set.hpp"
#include "orchestration/task_records.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The orchestration decisions as pure functions of a task snapshot: what
/// is ready, what a result changes, how the task moves on. Every decision
/// is a `ChangeSet` for `TaskStore::apply`, whose guards make a decision
/// taken on an outdated snapshot a counted no-op instead of a wrong write.
namespace tasker::orchestration {

/// Where a task stands, first match wins (the reference's order).
enum class ExecutionStatus {
  /// A step failed for good: nothing more is dispatched.
  blocked_by_failures,
  /// Steps can be dispatched now.
  has_ready_steps,
  /// Steps are dispatched and not yet answered.
  processing,
  /// Every step is complete or resolved manually.
  all_complete,
  /// Nothing runs; a step waits for its retry time.
  waiting_for_retry,
  /// Nothing runs and nothing can (a dependency is not satisfied).
  waiting_for_dependencies,
};

/// Returns the snake_case spelling, e.g. "has_ready_steps".
std::string_view to_string(ExecutionStatus status);

/// The steps that can be dispatched at `now`: pending or waiting for retry
/// with the retry time passed, every parent complete or resolved manually,
/// and attempts left.
std::vector<const StepRecord*> ready_steps(const TaskSnapshot& snapshot,
                                           TimePoint now);

/// Where `snapshot` stands at `now`.
ExecutionStatus execution_status(const TaskSnapshot& snapshot, TimePoint now);

/// The message a worker gets for attempt `attempt` of `step`: ids, attempt,
/// handler callable and initialization, the task's context, the results of
/// the step's parents by step name, and the timeout. Sent to the task's
/// namespace queue `worker_{namespace}_queue`.
OutboundMessage step_message(const TaskSnapshot& snapshot,
                             const StepRecord& step, int32_t attempt);

/// What a decision needs besides the snapshot.
struct PlanContext {
  TimePoint now;
  /// The deciding node, recorded in the history.
  std::string node;
  /// A draw in [0, 1) for the retry delay's jitter.
  double jitter_unit = 0.5;
};

/// Completes `change` (which may already hold step or task changes, e.g. a
/// step's outcome or a manual action) with what follows from them: ready
/// steps are dispatched (transition and message together), and the task
/// moves to `complete` when every step is, to `error` (with a dead-letter
/// record) once a step failed for good and nothing runs any more, to
/// `waiting_for_retry` or `waiting_for_dependencies` when nothing runs and
/// nothing can yet. Fails when `change` itself does not apply to
/// `snapshot`.
core::Result<void> plan_progress(const TaskSnapshot& snapshot,
                                 ChangeSet& change, const PlanContext& ctx);

/// The change set that starts a new (pending) task.
core::Result<ChangeSet> plan_start(const TaskSnapshot& snapshot,
                                   const PlanContext& ctx);

/// The change set for a worker's result: success completes the step; a
/// retryable failure with attempts left waits for the retry delay of the
/// step's policy (or the handler's hint); any other failure fails it. Then
/// `plan_progress`. A result for a step that is not awaiting it (already
/// answered, another attempt, unknown step) is `stale_transition`.
core::Result<ChangeSet> plan_step_result(const TaskSnapshot& snapshot,
                                         const channels::StepResult& result,
                                         const PlanContext& ctx);

/// Cancels a task that has not finished: the task and every unfinished
/// step; nothing is dispatched after it, and results of steps still running
/// become stale.
core::Result<ChangeSet> plan_cancel(const TaskSnapshot& snapshot,
                                    const PlanContext& ctx,
                                    const std::string& reason);

/// What an operator can do to a step.
enum class StepAction {
  /// A failed step runs again from attempt 1.
  reset_for_retry,
  /// The step counts as done without a result; dependents may run.
  resolve_manually,
  /// The step is complete with the operator's result.
  complete_manually,
};

/// Returns the spelling of the REST API and the CLI, e.g. "reset_for_retry".
std::string_view to_string(StepAction action);

/// Parses "reset_for_retry", "resolve_manually" or "complete_manually".
std::optional<StepAction> parse_step_action(std::string_view text);

/// Applies an operator's action to step `step_name`, then continues the
/// task (`plan_progress`); a task that had failed is reset first, so it can
/// finish. `result` is the step's result for `complete_manually`.
core::Result<ChangeSet> plan_step_action(const TaskSnapshot& snapshot,
                                         const std::string& step_name,
                                         StepAction action,
                                         const nlohmann::json& result,
                                         const PlanContext& ctx);

/// The failure recorded for attempt `attempt` of a step that ran past its
/// timeout: retryable, of kind `timeout`, `detail` as its message.
channels::StepResult timeout_result(const std::string& task_id,
                                    const std::string& step_id, int32_t attempt,
                                    const std::string& detail);

/// A dispatched step that ran past its timeout fails as a retryable
/// `timeout`, under the same rules as a worker's failure (it is dispatched
/// again after its backoff while attempts are left).
core::Result<ChangeSet> plan_timeout(const TaskSnapshot& snapshot,
                                     const std::string& step_id,
                                     int32_t attempt, const PlanContext& ctx);

/// The staleness sweep: the task moves to `error` with a dead-letter record
/// (reason `staleness_timeout`, `why` as notes, the snapshot as it was).
core::Result<ChangeSet> plan_expire(const TaskSnapshot& snapshot,
                                    const PlanContext& ctx,
                                    const std::string& why);

} // namespace tasker::orchestration
