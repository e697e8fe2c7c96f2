#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace tasker::worker {

/// What a handler makes of a step: a result, or a failure that says
/// whether another attempt may succeed and, optionally, how long to wait
/// before it (the handler's backoff hint overrides the template's backoff).
struct StepOutcome {
  bool success = false;
  /// The step's result (success only), any JSON document.
  nlohmann::json result;
  std::string error_message;
  /// Classifies a failure: "handler_error" unless the worker knows better
  /// ("handler_timeout", "handler_not_found", "handler_exception", ...).
  std::string error_type = "handler_error";
  bool retryable = true;
  std::chrono::milliseconds backoff_hint{0};

  static StepOutcome succeeded(nlohmann::json result) {
    StepOutcome outcome;
    outcome.success = true;
    outcome.result = std::move(result);
    outcome.error_type.clear();
    return outcome;
  }

  static StepOutcome failed(std::string message, bool retryable = true,
                            std::chrono::milliseconds backoff_hint = {},
                            std::string error_type = "handler_error") {
    StepOutcome outcome;
    outcome.error_message = std::move(message);
    outcome.retryable = retryable;
    outcome.backoff_hint = backoff_hint;
    outcome.error_type = std::move(error_type);
    return outcome;
  }
};

} // namespace tasker::worker
