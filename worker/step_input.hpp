#pragma once

#include "channels/step_message.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <stop_token>
#include <utility>

namespace tasker::worker {

/// What a handler gets: the step message (ids, attempt, callable), the
/// task's context, its parents' results, its initialization, the step's
/// deadline, and a stop token the worker requests when the deadline passes
/// (a handler that runs long should check it and return).
class StepInput {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  StepInput(const channels::StepMessage& step, Deadline deadline,
            std::stop_token stop)
      : step_(step), deadline_(deadline), stop_(std::move(stop)) {}

  const channels::StepMessage& step() const noexcept {
    return step_;
  }

  const nlohmann::json& context() const noexcept {
    return step_.context;
  }

  /// `{parent step name: its result}`.
  const nlohmann::json& dependency_results() const noexcept {
    return step_.dependency_results;
  }

  /// The template's `handler.initialization`, an object.
  const nlohmann::json& initialization() const noexcept {
    return step_.initialization;
  }

  /// When the step's timeout passes.
  Deadline deadline() const noexcept {
    return deadline_;
  }

  /// True once the step's timeout has passed: its result will be a
  /// timeout whatever the handler returns now.
  bool stop_requested() const noexcept {
    return stop_.stop_requested();
  }

  const std::stop_token& stop_token() const noexcept {
    return stop_;
  }

 private:
  const channels::StepMessage& step_;
  Deadline deadline_;
  std::stop_token stop_;
};

} // namespace tasker::worker
