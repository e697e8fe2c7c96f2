#include "orchestration/workflow_planner.hpp"

#include "channels/message_json.hpp"
#include "config/queue_names.hpp"
#include "orchestration/backoff.hpp"
#include "orchestration/change_applier.hpp"

#include <algorithm>
#include <optional>

namespace tasker::orchestration {

namespace {

bool is_processing(StepState state) {
  return state == StepState::enqueued || state == StepState::in_progress
         || state == StepState::enqueued_for_orchestration
         || state == StepState::enqueued_as_error_for_orchestration;
}

bool has_attempts_left(const StepRecord& step) {
  return step.attempts < std::max(step.retry.max_attempts, 1);
}

bool parents_satisfied(const TaskSnapshot& snapshot, const StepRecord& step) {
  return std::all_of(
      step.parents.begin(), step.parents.end(), [&](const std::string& parent) {
        auto record = snapshot.step_by_id(parent);
        return record != nullptr && satisfies_dependency(record->state);
      });
}

// The task events that lead from `state` toward what `status` calls for;
// empty when the task stays or the state machine has no such path.
std::vector<TaskEvent> task_events(TaskState state, ExecutionStatus status) {
  using S = TaskState;
  using E = TaskEvent;
  switch (status) {
    case ExecutionStatus::has_ready_steps:
      switch (state) {
        case S::pending:
          return {E::start, E::ready_steps_found, E::steps_enqueued};
        case S::evaluating_results:
          return {E::ready_steps_found, E::steps_enqueued};
        case S::waiting_for_retry: return {E::retry_ready, E::steps_enqueued};
        case S::waiting_for_dependencies:
          return {E::dependencies_ready, E::ready_steps_found,
                  E::steps_enqueued};
        case S::enqueuing_steps: return {E::steps_enqueued};
        default: return {};
      }
    case ExecutionStatus::all_complete:
      switch (state) {
        case S::pending: return {E::start, E::no_steps_found};
        case S::steps_in_process:
          return {E::step_completed, E::all_steps_successful};
        case S::evaluating_results: return {E::all_steps_successful};
        case S::waiting_for_dependencies:
          return {E::dependencies_ready, E::all_steps_successful};
        default: return {};
      }
    case ExecutionStatus::blocked_by_failures:
      switch (state) {
        case S::steps_in_process:
          return {E::step_completed, E::permanent_failure, E::give_up};
        case S::evaluating_results: return {E::permanent_failure, E::give_up};
        case S::waiting_for_dependencies:
          return {E::dependencies_ready, E::permanent_failure, E::give_up};
        default: return {};
      }
    case ExecutionStatus::waiting_for_retry:
      switch (state) {
        case S::steps_in_process:
        case S::evaluating_results: return {E::step_failed};
        default: return {};
      }
    case ExecutionStatus::waiting_for_dependencies:
      switch (state) {
        case S::pending: return {E::start, E::no_dependencies_ready};
        case S::steps_in_process:
          return {E::step_completed, E::no_dependencies_ready};
        case S::evaluating_results: return {E::no_dependencies_ready};
        default: return {};
      }
    case ExecutionStatus::processing: return {};
  }
  return {};
}

bool dispatches_from(TaskState state) {
  switch (state) {
    case TaskState::pending:
    case TaskState::steps_in_process:
    case TaskState::evaluating_results:
    case TaskState::waiting_for_retry:
    case TaskState::waiting_for_dependencies:
    case TaskState::enqueuing_steps: return true;
    default: return false;
  }
}

nlohmann::json parse_or_null(const std::string& text) {
  if (text.empty())
    return nullptr;
  return nlohmann::json::parse(text, nullptr, false);
}

} // namespace

std::string_view to_string(ExecutionStatus status) {
  switch (status) {
    case ExecutionStatus::blocked_by_failures: return "blocked_by_failures";
    case ExecutionStatus::has_ready_steps: return "has_ready_steps";
    case ExecutionStatus::processing: return "processing";
    case ExecutionStatus::all_complete: return "all_complete";
    case ExecutionStatus::waiting_for_retry: return "waiting_for_retry";
    case ExecutionStatus::waiting_for_dependencies:
      return "waiting_for_dependencies";
  }
  return "processing";
}

std::vector<const StepRecord*> ready_steps(const TaskSnapshot& snapshot,
                                           TimePoint now) {
  std::vector<const StepRecord*> out;
  for (const auto& step : snapshot.steps) {
    bool waiting = step.state == StepState::pending
                   || (step.state == StepState::waiting_for_retry
                       && (!step.next_retry_at || *step.next_retry_at <= now));
    if (waiting && has_attempts_left(step) && parents_satisfied(snapshot, step))
      out.push_back(&step);
  }
  return out;
}

ExecutionStatus execution_status(const TaskSnapshot& snapshot, TimePoint now) {
  const auto& steps = snapshot.steps;
  auto any = [&](auto predicate) {
    return std::any_of(steps.begin(), steps.end(), predicate);
  };
  if (any([](const StepRecord& s) {
        return s.state == StepState::error;
      }))
    return ExecutionStatus::blocked_by_failures;
  if (!ready_steps(snapshot, now).empty())
    return ExecutionStatus::has_ready_steps;
  if (any([](const StepRecord& s) {
        return is_processing(s.state);
      }))
    return ExecutionStatus::processing;
  if (std::all_of(steps.begin(), steps.end(), [](const StepRecord& s) {
        return satisfies_dependency(s.state);
      }))
    return ExecutionStatus::all_complete;
  if (any([](const StepRecord& s) {
        return s.state == StepState::waiting_for_retry;
      }))
    return ExecutionStatus::waiting_for_retry;
  return ExecutionStatus::waiting_for_dependencies;
}

OutboundMessage step_message(const TaskSnapshot& snapshot,
                             const StepRecord& step, int32_t attempt) {
  const auto& task = snapshot.task;
  channels::StepMessage message;
  message.task_id = task.id;
  message.step_id = step.id;
  message.step_name = step.name;
  message.namespace_name = task.namespace_name;
  message.task_name = task.name;
  message.task_version = task.version;
  message.attempt = attempt;
  message.callable = step.handler;
  if (!step.handler_initialization.is_null())
    message.initialization = step.handler_initialization;
  message.context = task.context;
  for (const auto& parent : step.parents)
    if (auto record = snapshot.step_by_id(parent))
      message.dependency_results[record->name] = record->results;
  message.timeout_seconds = step.timeout_seconds;
  return {config::worker_queue_name(task.namespace_name),
          {channels::to_json_text(message), {}, {}}};
}

core::Result<void> plan_progress(const TaskSnapshot& snapshot,
                                 ChangeSet& change, const PlanContext& ctx) {
  auto applied = apply_change(snapshot, change);
  if (!applied)
    return applied.error();
  const auto& after = applied->after;
  auto status = execution_status(after, ctx.now);
  bool running = std::any_of(after.steps.begin(), after.steps.end(),
                             [](const StepRecord& s) {
                               return is_processing(s.state);
                             });
  // A failure blocks the task, which errors once nothing runs any more.
  auto events = status == ExecutionStatus::blocked_by_failures && running
                    ? std::vector<TaskEvent>{}
                    : task_events(after.task.state, status);
  if (status == ExecutionStatus::has_ready_steps
      && dispatches_from(after.task.state)) {
    for (const auto* step : ready_steps(after, ctx.now)) {
      StepChange dispatch;
      dispatch.step_id = step->id;
      dispatch.expected_state = step->state;
      if (step->state == StepState::waiting_for_retry)
        dispatch.events.push_back(StepEvent::retry);
      dispatch.events.push_back(StepEvent::enqueue);
      dispatch.attempts = step->attempts + 1;
      dispatch.enqueued_at = ctx.now;
      dispatch.next_retry_at = std::optional<TimePoint>{};
      change.steps.push_back(std::move(dispatch));
      change.messages.push_back(step_message(after, *step, step->attempts + 1));
    }
  }
  if (!events.empty()) {
    if (std::find(events.begin(), events.end(), TaskEvent::give_up)
        != events.end())
      change.dead_letter
          = DeadLetterDraft{DeadLetterReason::max_retries_exceeded,
                            "a step failed and has no attempts left"};
    if (change.task)
      change.task->events.insert(change.task->events.end(), events.begin(),
                                 events.end());
    else
      change.task = TaskChange{snapshot.task.state, std::move(events), {}};
  }
  change.task_id = snapshot.task.id;
  change.expected_revision = snapshot.task.revision;
  change.at = ctx.now;
  change.node = ctx.node;
  return {};
}

core::Result<ChangeSet> plan_start(const TaskSnapshot& snapshot,
                                   const PlanContext& ctx) {
  ChangeSet change;
  auto planned = plan_progress(snapshot, change, ctx);
  if (!planned)
    return planned.error();
  return change;
}

core::Result<ChangeSet> plan_step_result(const TaskSnapshot& snapshot,
                                         const channels::StepResult& result,
                                         const PlanContext& ctx) {
  auto step = snapshot.step_by_id(result.step_id);
  if (step == nullptr)
    return core::Error{core::ErrorCode::stale_transition,
                       "result for unknown step " + result.step_id + " of task "
                           + snapshot.task.id};
  if (step->state != StepState::enqueued
      && step->state != StepState::in_progress)
    return core::Error{core::ErrorCode::stale_transition,
                       "step '" + step->name + "' of task " + snapshot.task.id
                           + " is " + std::string{to_string(step->state)}
                           + ": result of attempt "
                           + std::to_string(result.attempt) + " ignored"};
  if (step->attempts != result.attempt)
    return core::Error{core::ErrorCode::stale_transition,
                       "step '" + step->name + "' of task " + snapshot.task.id
                           + " is at attempt " + std::to_string(step->attempts)
                           + ": result of attempt "
                           + std::to_string(result.attempt) + " ignored"};
  StepChange outcome;
  outcome.step_id = step->id;
  outcome.expected_state = step->state;
  outcome.expected_attempts = result.attempt;
  outcome.metadata
      = {{"attempt", result.attempt}, {"worker", result.worker_id}};
  auto value = parse_or_null(result.result_json);
  bool success = result.success && !value.is_discarded();
  if (success) {
    outcome.events
        = {StepEvent::enqueue_for_orchestration, StepEvent::complete};
    outcome.results = std::move(value);
    outcome.last_error = nlohmann::json();
  } else {
    auto message = result.success ? "the handler's result is not JSON"
                                  : result.error_message;
    auto kind = result.success ? "invalid_result" : result.error_type;
    bool retryable = !result.success ? result.retryable : false;
    outcome.last_error = nlohmann::json{{"message", message},
                                        {"kind", kind},
                                        {"retryable", retryable},
                                        {"attempt", result.attempt}};
    if (retryable && step->retry.retryable && has_attempts_left(*step)) {
      auto hint = result.backoff_hint_ms > 0
                      ? std::optional{std::chrono::milliseconds{
                          result.backoff_hint_ms}}
                      : std::nullopt;
      auto delay
          = retry_delay(step->retry, result.attempt, hint, ctx.jitter_unit);
      outcome.events = {StepEvent::enqueue_as_error_for_orchestration,
                        StepEvent::wait_for_retry};
      outcome.next_retry_at = std::optional<TimePoint>{ctx.now + delay};
    } else {
      outcome.events
          = {StepEvent::enqueue_as_error_for_orchestration, StepEvent::fail};
    }
  }
  ChangeSet change;
  change.steps.push_back(std::move(outcome));
  auto planned = plan_progress(snapshot, change, ctx);
  if (!planned)
    return planned.error();
  return change;
}

core::Result<ChangeSet> plan_cancel(const TaskSnapshot& snapshot,
                                    const PlanContext& ctx,
                                    const std::string& reason) {
  if (is_terminal(snapshot.task.state))
    return core::Error{core::ErrorCode::invalid_argument,
                       "task " + snapshot.task.id + " is "
                           + std::string{to_string(snapshot.task.state)}
                           + " and cannot be cancelled"};
  ChangeSet change;
  change.task_id = snapshot.task.id;
  change.expected_revision = snapshot.task.revision;
  change.at = ctx.now;
  change.node = ctx.node;
  nlohmann::json why{{"reason", reason}};
  change.task = TaskChange{snapshot.task.state, {TaskEvent::cancel}, why};
  for (const auto& step : snapshot.steps) {
    if (is_terminal(step.state))
      continue;
    StepChange cancel;
    cancel.step_id = step.id;
    cancel.expected_state = step.state;
    cancel.events = {StepEvent::cancel};
    cancel.metadata = why;
    change.steps.push_back(std::move(cancel));
  }
  return change;
}

std::string_view to_string(StepAction action) {
  switch (action) {
    case StepAction::reset_for_retry: return "reset_for_retry";
    case StepAction::resolve_manually: return "resolve_manually";
    case StepAction::complete_manually: return "complete_manually";
  }
  return "reset_for_retry";
}

std::optional<StepAction> parse_step_action(std::string_view text) {
  for (auto action : {StepAction::reset_for_retry, StepAction::resolve_manually,
                      StepAction::complete_manually})
    if (to_string(action) == text)
      return action;
  return std::nullopt;
}

core::Result<ChangeSet> plan_step_action(const TaskSnapshot& snapshot,
                                         const std::string& step_name,
                                         StepAction action,
                                         const nlohmann::json& result,
                                         const PlanContext& ctx) {
  auto step = snapshot.find_step(step_name);
  if (step == nullptr)
    return core::Error{core::ErrorCode::not_found, "task " + snapshot.task.id
                                                       + " has no step '"
                                                       + step_name + "'"};
  auto task_state = snapshot.task.state;
  if (is_terminal(task_state) && task_state != TaskState::error)
    return core::Error{core::ErrorCode::invalid_argument,
                       "task " + snapshot.task.id + " is "
                           + std::string{to_string(task_state)}
                           + ": its steps can no longer change"};
  StepChange manual;
  manual.step_id = step->id;
  manual.expected_state = step->state;
  manual.metadata = {{"action", to_string(action)}};
  switch (action) {
    case StepAction::reset_for_retry:
      manual.events = {StepEvent::reset_for_retry};
      manual.attempts = 0;
      manual.next_retry_at = std::optional<TimePoint>{};
      break;
    case StepAction::resolve_manually:
      manual.events = {StepEvent::resolve_manually};
      break;
    case StepAction::complete_manually:
      manual.events = {StepEvent::complete_manually};
      manual.results = result;
      break;
  }
  if (!next_state(step->state, manual.events.front()))
    return core::Error{core::ErrorCode::invalid_argument,
                       "step '" + step_name + "' of task " + snapshot.task.id
                           + " is " + std::string{to_string(step->state)} + ": "
                           + std::string{to_string(action)}
                           + " is not possible"};
  ChangeSet change;
  change.steps.push_back(std::move(manual));
  if (task_state == TaskState::error)
    change.task = TaskChange{task_state, {TaskEvent::reset}, {}};
  auto planned = plan_progress(snapshot, change, ctx);
  if (!planned)
    return planned.error();
  return change;
}

channels::StepResult timeout_result(const std::string& task_id,
                                    const std::string& step_id, int32_t attempt,
                                    const std::string& detail) {
  channels::StepResult out;
  out.task_id = task_id;
  out.step_id = step_id;
  out.attempt = attempt;
  out.success = false;
  out.error_type = "timeout";
  out.error_message = detail;
  out.retryable = true;
  return out;
}

core::Result<ChangeSet> plan_timeout(const TaskSnapshot& snapshot,
                                     const std::string& step_id,
                                     int32_t attempt, const PlanContext& ctx) {
  auto step = snapshot.step_by_id(step_id);
  auto detail
      = "step '" + (step ? step->name : step_id) + "' ran past its timeout of "
        + std::to_string(step && step->timeout_seconds ? *step->timeout_seconds
                                                       : 0)
        + " s";
  auto result = timeout_result(snapshot.task.id, step_id, attempt, detail);
  result.worker_id = ctx.node;
  return plan_step_result(snapshot, result, ctx);
}

core::Result<ChangeSet> plan_expire(const TaskSnapshot& snapshot,
                                    const PlanContext& ctx,
                                    const std::string& why) {
  if (is_terminal(snapshot.task.state))
    return core::Error{core::ErrorCode::stale_transition,
                       "task " + snapshot.task.id + " finished meanwhile"};
  ChangeSet change;
  change.task_id = snapshot.task.id;
  change.expected_revision = snapshot.task.revision;
  change.at = ctx.now;
  change.node = ctx.node;
  change.task
      = TaskChange{snapshot.task.state, {TaskEvent::expire}, {{"reason", why}}};
  change.dead_letter
      = DeadLetterDraft{DeadLetterReason::staleness_timeout, why};
  return change;
}

} // namespace tasker::orchestration
