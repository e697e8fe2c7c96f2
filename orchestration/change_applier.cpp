#include "orchestration/change_applier.hpp"

#include <string>

namespace tasker::orchestration {

namespace {

core::Error stale(std::string what) {
  return core::Error{core::ErrorCode::stale_transition, std::move(what)};
}

core::Error invalid(std::string what) {
  return core::Error{core::ErrorCode::invalid_argument, std::move(what)};
}

core::Result<void> apply_task_change(TaskSnapshot& snapshot,
                                     const TaskChange& change,
                                     const ChangeSet& set,
                                     std::vector<TransitionRecord>& out) {
  auto& task = snapshot.task;
  if (task.state != change.expected_state)
    return stale("task " + task.id + " is " + std::string{to_string(task.state)}
                 + ", expected "
                 + std::string{to_string(change.expected_state)});
  for (auto event : change.events) {
    auto next = next_state(task.state, event);
    if (!next)
      return invalid("task " + task.id + ": event '"
                     + std::string{to_string(event)} + "' is not allowed in '"
                     + std::string{to_string(task.state)} + "'");
    out.push_back({task.id, "", std::string{to_string(task.state)},
                   std::string{to_string(*next)}, std::string{to_string(event)},
                   change.metadata, set.at, set.node});
    task.state = *next;
    task.state_since = set.at;
  }
  if (is_terminal(task.state) && !task.completed_at)
    task.completed_at = set.at;
  return {};
}

core::Result<void> apply_step_change(TaskSnapshot& snapshot,
                                     const StepChange& change,
                                     const ChangeSet& set,
                                     std::vector<TransitionRecord>& out) {
  StepRecord* step = nullptr;
  for (auto& candidate : snapshot.steps)
    if (candidate.id == change.step_id)
      step = &candidate;
  if (step == nullptr)
    return invalid("step " + change.step_id + " is not a step of task "
                   + snapshot.task.id);
  if (step->state != change.expected_state)
    return stale("step '" + step->name + "' of task " + snapshot.task.id
                 + " is " + std::string{to_string(step->state)} + ", expected "
                 + std::string{to_string(change.expected_state)});
  if (change.expected_attempts && step->attempts != *change.expected_attempts)
    return stale("step '" + step->name + "' of task " + snapshot.task.id
                 + " is at attempt " + std::to_string(step->attempts)
                 + ", the change is for attempt "
                 + std::to_string(*change.expected_attempts));
  for (auto event : change.events) {
    auto next = next_state(step->state, event);
    if (!next)
      return invalid("step '" + step->name + "' of task " + snapshot.task.id
                     + ": event '" + std::string{to_string(event)}
                     + "' is not allowed in '"
                     + std::string{to_string(step->state)} + "'");
    out.push_back({snapshot.task.id, step->id,
                   std::string{to_string(step->state)},
                   std::string{to_string(*next)}, std::string{to_string(event)},
                   change.metadata, set.at, set.node});
    step->state = *next;
    if (*next == StepState::complete)
      step->completed_at = set.at;
  }
  if (change.attempts)
    step->attempts = *change.attempts;
  if (change.results)
    step->results = *change.results;
  if (change.last_error)
    step->last_error = *change.last_error;
  if (change.next_retry_at)
    step->next_retry_at = *change.next_retry_at;
  if (change.enqueued_at)
    step->enqueued_at = change.enqueued_at;
  step->updated_at = set.at;
  return {};
}

} // namespace

core::Result<AppliedChange> apply_change(const TaskSnapshot& before,
                                         const ChangeSet& change) {
  if (change.expected_revision
      && *change.expected_revision != before.task.revision)
    return stale("task " + before.task.id
                 + " changed since the decision (revision "
                 + std::to_string(before.task.revision) + ", decided on "
                 + std::to_string(*change.expected_revision) + ")");
  AppliedChange out{before, {}};
  ++out.after.task.revision;
  if (change.task) {
    auto done
        = apply_task_change(out.after, *change.task, change, out.transitions);
    if (!done)
      return done.error();
  }
  for (const auto& step : change.steps) {
    auto done = apply_step_change(out.after, step, change, out.transitions);
    if (!done)
      return done.error();
  }
  return out;
}

} // namespace tasker::orchestration
