#pragma once

#include "channels/orchestration_commands.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

/// Workers played by tests: a function from a step message to its result.
namespace tasker::testing {

/// A worker whose steps all succeed: each result names its step and sums
/// its parents' values plus one (a parent resolved without result adds 0).
inline channels::StepResult succeed(const nlohmann::json& message) {
  channels::StepResult result;
  result.task_id = message.at("task_id");
  result.step_id = message.at("step_id");
  result.attempt = message.at("attempt");
  result.success = true;
  int64_t value = 1;
  for (const auto& [parent, parent_result] :
       message.at("dependency_results").items())
    if (parent_result.is_object()) // null: resolved without a result
      value += parent_result.at("value").template get<int64_t>();
  result.result_json = nlohmann::json{
      {"step", message.at("step_name")},
      {"value", value}}.dump();
  result.worker_id = "suite-worker";
  return result;
}

} // namespace tasker::testing
