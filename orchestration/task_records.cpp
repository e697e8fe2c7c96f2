#include "orchestration/task_records.hpp"

#include "orchestration/uuid_v7.hpp"

#include <map>

namespace tasker::orchestration {

namespace {

int64_t epoch_ms(TimePoint at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             at.time_since_epoch())
      .count();
}

nlohmann::json optional_ms(const std::optional<TimePoint>& at) {
  return at ? nlohmann::json(epoch_ms(*at)) : nlohmann::json();
}

} // namespace

const StepRecord* TaskSnapshot::find_step(const std::string& name) const {
  for (const auto& step : steps)
    if (step.name == name)
      return &step;
  return nullptr;
}

const StepRecord* TaskSnapshot::step_by_id(const std::string& id) const {
  for (const auto& step : steps)
    if (step.id == id)
      return &step;
  return nullptr;
}

std::string_view to_string(DeadLetterReason reason) {
  switch (reason) {
    case DeadLetterReason::staleness_timeout: return "staleness_timeout";
    case DeadLetterReason::max_retries_exceeded: return "max_retries_exceeded";
    case DeadLetterReason::manual: return "manual";
  }
  return "manual";
}

std::string_view to_string(DeadLetterResolution resolution) {
  switch (resolution) {
    case DeadLetterResolution::pending: return "pending";
    case DeadLetterResolution::manually_resolved: return "manually_resolved";
    case DeadLetterResolution::permanently_failed: return "permanently_failed";
    case DeadLetterResolution::cancelled: return "cancelled";
  }
  return "pending";
}

std::optional<DeadLetterResolution>
parse_dead_letter_resolution(std::string_view text) {
  for (auto resolution :
       {DeadLetterResolution::pending, DeadLetterResolution::manually_resolved,
        DeadLetterResolution::permanently_failed,
        DeadLetterResolution::cancelled})
    if (to_string(resolution) == text)
      return resolution;
  return std::nullopt;
}

void to_json(nlohmann::json& out, const StepRecord& step) {
  out = {{"id", step.id},
         {"task_id", step.task_id},
         {"name", step.name},
         {"handler", step.handler},
         {"state", to_string(step.state)},
         {"attempts", step.attempts},
         {"max_attempts", step.retry.max_attempts},
         {"parents", step.parents},
         {"results", step.results},
         {"last_error", step.last_error},
         {"next_retry_at", optional_ms(step.next_retry_at)},
         {"enqueued_at", optional_ms(step.enqueued_at)},
         {"completed_at", optional_ms(step.completed_at)},
         {"updated_at", epoch_ms(step.updated_at)}};
}

void to_json(nlohmann::json& out, const TaskRecord& task) {
  out = {{"id", task.id},
         {"namespace", task.namespace_name},
         {"name", task.name},
         {"version", task.version},
         {"context", task.context},
         {"identity_hash", task.identity_hash},
         {"idempotency_key", task.idempotency_key
                                 ? nlohmann::json(*task.idempotency_key)
                                 : nlohmann::json()},
         {"priority", task.priority},
         {"initiator", task.initiator},
         {"source_system", task.source_system},
         {"reason", task.reason},
         {"state", to_string(task.state)},
         {"revision", task.revision},
         {"created_at", epoch_ms(task.created_at)},
         {"state_since", epoch_ms(task.state_since)},
         {"completed_at", optional_ms(task.completed_at)}};
}

void to_json(nlohmann::json& out, const TaskSnapshot& snapshot) {
  out = snapshot.task;
  out["steps"] = snapshot.steps;
}

core::Result<TaskSnapshot> new_task_snapshot(const NewTask& request,
                                             TimePoint now) {
  auto invalid = [&](const std::string& what) {
    return core::Error{core::ErrorCode::invalid_argument,
                       "task '" + request.name + "'" + what};
  };
  if (request.steps.empty())
    return invalid(" has no steps");
  TaskSnapshot snapshot;
  auto& task = snapshot.task;
  task.id = request.id.empty() ? new_uuid_v7(now) : request.id;
  task.namespace_name = request.namespace_name;
  task.name = request.name;
  task.version = request.version;
  task.context = request.context;
  task.identity_hash = request.identity_hash;
  task.idempotency_key = request.idempotency_key;
  task.priority = request.priority;
  task.initiator = request.initiator;
  task.source_system = request.source_system;
  task.reason = request.reason;
  task.created_at = task.state_since = now;
  std::map<std::string, std::string> ids;
  for (const auto& step : request.steps) {
    if (ids.count(step.name) > 0)
      return invalid(": step '" + step.name + "' appears twice");
    StepRecord record;
    record.id = new_uuid_v7(now);
    record.task_id = task.id;
    record.name = step.name;
    record.handler = step.handler;
    record.handler_initialization = step.handler_initialization;
    record.retry = step.retry;
    record.timeout_seconds = step.timeout_seconds;
    record.updated_at = now;
    for (const auto& dependency : step.dependencies) {
      auto parent = ids.find(dependency);
      if (parent == ids.end())
        return invalid(": step '" + step.name + "' depends on '" + dependency
                       + "', which is not an earlier step");
      record.parents.push_back(parent->second);
    }
    ids[step.name] = record.id;
    snapshot.steps.push_back(std::move(record));
  }
  return snapshot;
}

std::vector<TransitionRecord> creation_history(const TaskSnapshot& snapshot,
                                               TimePoint now) {
  const auto& id = snapshot.task.id;
  std::vector<TransitionRecord> rows{
      {id, "", "", "pending", "create", {}, now, ""}};
  for (const auto& step : snapshot.steps)
    rows.push_back({id, step.id, "", "pending", "create", {}, now, ""});
  return rows;
}

} // namespace tasker::orchestration
