#pragma once

#include "config/task_template.hpp"
#include "core/result.hpp"
#include "orchestration/task_records.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace tasker::orchestration {

/// What a caller adds to a template and a context when asking for a task.
struct TaskOptions {
  /// Explicit deduplication key; without one, the template and the context
  /// identify the task.
  std::optional<std::string> idempotency_key;
  int32_t priority = 0;
  std::string initiator;
  std::string source_system;
  std::string reason;
};

/// Builds the request to store a task of `tmpl`: checks `context` against
/// the template's `input_schema` (every problem named, code
/// `invalid_argument`), computes the SHA-256 identity, and lays the steps
/// out in topological order with their handlers, retry policies and
/// timeouts.
core::Result<NewTask> make_new_task(const config::TaskTemplate& tmpl,
                                    const nlohmann::json& context,
                                    const TaskOptions& options);

} // namespace tasker::orchestration
