#pragma once

#include "core/result.hpp"
#include "worker/handler_registry.hpp"

/// The handlers every worker has, so the example templates and the
/// benchmarks run without user code. Results are `{"value": N}`.
/// - `tasker.square`: the square of the integer `context[input_key]`
///   (`initialization.input_key`), or of the single parent's value;
/// - `tasker.multiply`: the product of the parents' values;
/// - `tasker.sum`: the sum of the parents' values;
/// - `tasker.noop`: `{"value": 0}`, at once (benchmarks);
/// - `tasker.sleep`: waits `initialization.duration_ms` (or the context's
///   `duration_ms`), returning early with a timeout failure when the step's
///   deadline passes; its result is `{"slept_ms": N}`.
/// A missing or non-integer input, and an overflow, are non-retryable
/// failures naming the step and the input.
namespace tasker::worker {

/// Registers the built-in handlers whose callables are free: a handler
/// registered before (an `exec` handler configured for `tasker.square`,
/// say) takes precedence.
void add_builtin_handlers(HandlerRegistry& registry);

} // namespace tasker::worker
