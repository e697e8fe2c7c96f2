#include "channels/message_json.hpp"

#include <nlohmann/json.hpp>

namespace tasker::channels {

namespace {

using nlohmann::json;

core::Error bad(std::string_view what, const std::string& detail) {
  return core::Error{core::ErrorCode::invalid_argument,
                     std::string{what} + ": " + detail};
}

core::Result<json> parse_object(std::string_view what, std::string_view text) {
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return bad(what, "not valid JSON");
  if (!doc.is_object())
    return bad(what, "expected a JSON object");
  return doc;
}

// Reads `key` of type T into `out`; missing is an error when `required`.
template <class T>
core::Result<void> read(std::string_view what, const json& doc, const char* key,
                        T& out, bool required) {
  auto i = doc.find(key);
  if (i == doc.end() || i->is_null()) {
    if (required)
      return bad(what, std::string{"missing field '"} + key + "'");
    return {};
  }
  bool fits = false;
  if constexpr (std::is_same_v<T, std::string>)
    fits = i->is_string();
  else if constexpr (std::is_same_v<T, bool>)
    fits = i->is_boolean();
  else
    fits = i->is_number_integer();
  if (!fits)
    return bad(what, std::string{"field '"} + key + "' has the wrong type ("
                         + i->type_name() + ")");
  out = i->get<T>();
  return {};
}

} // namespace

std::string to_json_text(const TaskRequest& request) {
  auto context = json::parse(request.context_json, nullptr, false);
  return json{{"namespace", request.namespace_name},
              {"name", request.name},
              {"version", request.version},
              {"context", context.is_discarded() ? json() : context},
              {"idempotency_key", request.idempotency_key},
              {"priority", request.priority},
              {"initiator", request.initiator},
              {"source_system", request.source_system},
              {"reason", request.reason}}
      .dump();
}

core::Result<TaskRequest> task_request_from_json(std::string_view text) {
  constexpr std::string_view what = "task request";
  auto doc = parse_object(what, text);
  if (!doc)
    return doc.error();
  TaskRequest out;
  for (auto done :
       {read(what, *doc, "namespace", out.namespace_name, true),
        read(what, *doc, "name", out.name, true),
        read(what, *doc, "version", out.version, false),
        read(what, *doc, "idempotency_key", out.idempotency_key, false),
        read(what, *doc, "priority", out.priority, false),
        read(what, *doc, "initiator", out.initiator, false),
        read(what, *doc, "source_system", out.source_system, false),
        read(what, *doc, "reason", out.reason, false)})
    if (!done)
      return done.error();
  auto context = doc->find("context");
  if (context == doc->end())
    return bad(what, "missing field 'context'");
  out.context_json = context->dump();
  return out;
}

std::string to_json_text(const StepResult& result) {
  auto value = json::parse(result.result_json, nullptr, false);
  json doc{{"task_id", result.task_id},
           {"step_id", result.step_id},
           {"attempt", result.attempt},
           {"success", result.success},
           {"result", value.is_discarded() ? json() : value},
           {"worker_id", result.worker_id},
           {"started_at_us", result.started_at_us},
           {"completed_at_us", result.completed_at_us}};
  if (!result.success)
    doc["error"] = {{"message", result.error_message},
                    {"type", result.error_type},
                    {"retryable", result.retryable},
                    {"backoff_hint_ms", result.backoff_hint_ms}};
  return doc.dump();
}

core::Result<StepResult> step_result_from_json(std::string_view text) {
  constexpr std::string_view what = "step result";
  auto doc = parse_object(what, text);
  if (!doc)
    return doc.error();
  StepResult out;
  for (auto done :
       {read(what, *doc, "task_id", out.task_id, true),
        read(what, *doc, "step_id", out.step_id, true),
        read(what, *doc, "attempt", out.attempt, true),
        read(what, *doc, "success", out.success, true),
        read(what, *doc, "worker_id", out.worker_id, false),
        read(what, *doc, "started_at_us", out.started_at_us, false),
        read(what, *doc, "completed_at_us", out.completed_at_us, false)})
    if (!done)
      return done.error();
  if (auto value = doc->find("result"); value != doc->end())
    out.result_json = value->dump();
  if (auto error = doc->find("error");
      error != doc->end() && error->is_object()) {
    for (auto done :
         {read(what, *error, "message", out.error_message, false),
          read(what, *error, "type", out.error_type, false),
          read(what, *error, "retryable", out.retryable, false),
          read(what, *error, "backoff_hint_ms", out.backoff_hint_ms, false)})
      if (!done)
        return done.error();
  }
  return out;
}

std::string to_json_text(const StepMessage& message) {
  return json{{"task_id", message.task_id},
              {"step_id", message.step_id},
              {"step_name", message.step_name},
              {"namespace", message.namespace_name},
              {"task_name", message.task_name},
              {"task_version", message.task_version},
              {"attempt", message.attempt},
              {"handler",
               {{"callable", message.callable},
                {"initialization", message.initialization}}},
              {"context", message.context},
              {"dependency_results", message.dependency_results},
              {"timeout_seconds", message.timeout_seconds
                                      ? json(*message.timeout_seconds)
                                      : json()}}
      .dump();
}

core::Result<StepMessage> step_message_from_json(std::string_view text) {
  constexpr std::string_view what = "step message";
  auto doc = parse_object(what, text);
  if (!doc)
    return doc.error();
  StepMessage out;
  for (auto done : {read(what, *doc, "task_id", out.task_id, true),
                    read(what, *doc, "step_id", out.step_id, true),
                    read(what, *doc, "step_name", out.step_name, false),
                    read(what, *doc, "namespace", out.namespace_name, false),
                    read(what, *doc, "task_name", out.task_name, false),
                    read(what, *doc, "task_version", out.task_version, false),
                    read(what, *doc, "attempt", out.attempt, true)})
    if (!done)
      return done.error();
  auto handler = doc->find("handler");
  if (handler == doc->end() || !handler->is_object())
    return bad(what, "missing object 'handler'");
  if (auto done = read(what, *handler, "callable", out.callable, true); !done)
    return done.error();
  // Optional documents: absent or null reads as empty.
  auto document = [&](const json& from, const char* key,
                      nlohmann::json& into) -> core::Result<void> {
    auto i = from.find(key);
    if (i == from.end() || i->is_null())
      return {};
    if (!i->is_object())
      return bad(what, std::string{"field '"} + key
                           + "' must be an object, not " + i->type_name());
    into = *i;
    return {};
  };
  for (auto done :
       {document(*handler, "initialization", out.initialization),
        document(*doc, "dependency_results", out.dependency_results)})
    if (!done)
      return done.error();
  if (auto context = doc->find("context"); context != doc->end())
    out.context = *context;
  int64_t timeout = 0;
  auto has_timeout = doc->find("timeout_seconds");
  if (has_timeout != doc->end() && !has_timeout->is_null()) {
    if (auto done = read(what, *doc, "timeout_seconds", timeout, true); !done)
      return done.error();
    out.timeout_seconds = timeout;
  }
  return out;
}

std::string finalize_request_to_json(const std::string& task_id) {
  return json{{"task_id", task_id}}.dump();
}

core::Result<std::string> finalize_request_from_json(std::string_view text) {
  constexpr std::string_view what = "finalization request";
  auto doc = parse_object(what, text);
  if (!doc)
    return doc.error();
  std::string task_id;
  auto done = read(what, *doc, "task_id", task_id, true);
  if (!done)
    return done.error();
  return task_id;
}

} // namespace tasker::channels
