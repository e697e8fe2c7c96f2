#pragma once

#include "channels/orchestration_commands.hpp"
#include "channels/step_message.hpp"
#include "core/result.hpp"

#include <string>
#include <string_view>

/// The JSON bodies of the messages orchestration and workers exchange
/// through queues: step messages (`worker_{namespace}_queue`), task requests
/// (`orchestration_task_requests`), step results (`orchestration_step_results`)
/// and finalization requests
/// (`orchestration_task_finalizations`). Decoding errors name the field.
namespace tasker::channels {

/// `{"namespace", "name", "version", "context": {...}, "idempotency_key",
/// "priority", "initiator", "source_system", "reason"}`.
std::string to_json_text(const TaskRequest& request);

/// Decodes a task request; `namespace`, `name` and `context` are required.
core::Result<TaskRequest> task_request_from_json(std::string_view text);

/// `{"task_id", "step_id", "attempt", "success", "result": <json>,
/// "error": {"message", "type", "retryable", "backoff_hint_ms"}, "worker_id",
/// "started_at_us", "completed_at_us"}`.
std::string to_json_text(const StepResult& result);

/// Decodes a step result; `task_id`, `step_id`, `attempt` and `success` are
/// required.
core::Result<StepResult> step_result_from_json(std::string_view text);

/// `{"task_id", "step_id", "step_name", "namespace", "task_name",
/// "task_version", "attempt", "handler": {"callable", "initialization"},
/// "context", "dependency_results", "timeout_seconds"}`.
std::string to_json_text(const StepMessage& message);

/// Decodes a step message; the ids, `attempt` and `handler.callable` are
/// required.
core::Result<StepMessage> step_message_from_json(std::string_view text);

/// `{"task_id": "..."}`.
std::string finalize_request_to_json(const std::string& task_id);

/// Decodes a finalization request into its task id.
core::Result<std::string> finalize_request_from_json(std::string_view text);

} // namespace tasker::channels
