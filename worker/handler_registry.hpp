#pragma once

#include "core/result.hpp"
#include "worker/step_input.hpp"
#include "worker/step_outcome.hpp"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::worker {

/// A step handler: runs on a handler thread, never on an actor thread. It
/// returns a result or a failure; an exception it throws is a retryable
/// failure naming the exception.
using StepHandler = std::function<StepOutcome(const StepInput&)>;

/// The handlers a worker can run, by `handler.callable`. Filled before the
/// worker starts and read-only after, so lookups need no locking.
class HandlerRegistry {
 public:
  /// Registers `handler` under `callable`. Fails naming the callable when
  /// it is empty or registered already (a second registration would
  /// silently shadow the first).
  core::Result<void> add(std::string callable, StepHandler handler);

  /// Returns the handler of `callable`, or null.
  const StepHandler* find(std::string_view callable) const;

  /// Returns the registered callables, sorted.
  std::vector<std::string> callables() const;

  /// Runs the handler of `input.step().callable`: an unknown callable is a
  /// non-retryable `handler_not_found` failure naming it (and the closest
  /// registered callable), an exception a retryable `handler_exception`
  /// failure naming it. Never throws.
  StepOutcome run(const StepInput& input) const;

 private:
  std::map<std::string, StepHandler, std::less<>> handlers_;
};

} // namespace tasker::worker
