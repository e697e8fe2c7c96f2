#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace tasker::channels {

/// One attempt of one step, as orchestration sends it to
/// `worker_{namespace}_queue` and a worker decodes it: the ids, the
/// handler to run with its initialization, the task's context, the results
/// of the step's parents by step name, and the step's timeout.
struct StepMessage {
  std::string task_id;
  std::string step_id;
  std::string step_name;
  std::string namespace_name;
  std::string task_name;
  std::string task_version;
  /// The attempt this message starts, from 1.
  int32_t attempt = 0;
  /// The handler's lookup key (`handler.callable` in the template).
  std::string callable;
  /// `handler.initialization` of the template; an object, possibly empty.
  nlohmann::json initialization = nlohmann::json::object();
  nlohmann::json context = nlohmann::json::object();
  /// `{parent step name: its result}`.
  nlohmann::json dependency_results = nlohmann::json::object();
  /// The template's `timeout_seconds`; empty when it sets none.
  std::optional<int64_t> timeout_seconds;
};

} // namespace tasker::channels
