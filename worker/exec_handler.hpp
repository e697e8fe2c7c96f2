#pragma once

#include "core/result.hpp"
#include "worker/step_input.hpp"
#include "worker/step_outcome.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

/// Handlers in any language: a callable served by a command the worker runs
/// once per step attempt (docs/handlers.md, "Handlers in any language").
///
/// The command gets the step message (`channels::to_json_text`) on stdin and
/// TASKER_TASK_ID, TASKER_STEP_ID, TASKER_STEP_NAME, TASKER_NAMESPACE,
/// TASKER_ATTEMPT and TASKER_CALLABLE in its environment. It answers by
/// exiting with status 0 after writing one JSON object to stdout with exactly
/// one of `"result"` (any JSON: the step succeeded) or `"error"`:
/// `{"message": string, "retryable": bool (default true), "backoff_ms":
/// non-negative integer (optional), "type": string (default
/// "handler_error")}`; other members are ignored. Anything else is a
/// retryable failure whose message carries the tail of stderr:
/// "handler_exit" (non-zero status, killed by a signal),
/// "handler_invalid_output" (stdout not such an object, or over its limit),
/// "handler_timeout" (deadline or stop: the command's process group got
/// SIGTERM, then SIGKILL after 2 s). A command that cannot start is
/// "handler_start_failed", not retryable.
namespace tasker::worker {

/// A callable and the command that serves it.
struct ExecHandlerSpec {
  std::string callable;
  /// The command split into words (`core::split_command_line`).
  std::vector<std::string> argv;
};

/// Parses one `worker.exec_handlers` item, "CALLABLE=COMMAND", e.g.
/// "shop.charge_card=python3 handlers/charge_card.py"; the callable has no
/// whitespace, the command is split like a shell quotes. Errors name the item.
core::Result<ExecHandlerSpec> parse_exec_handler(std::string_view item);

/// Runs the step's attempt through the command and reads its answer (see
/// above). The command is terminated at the input's deadline or when its
/// stop token is requested. Blocks the calling thread: call it from a
/// handler thread, never from an actor.
StepOutcome run_exec_handler(const ExecHandlerSpec& spec,
                             const StepInput& input);

} // namespace tasker::worker
