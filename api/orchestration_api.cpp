#include "api/orchestration_api.hpp"

#include "api/health_routes.hpp"
#include "api/metric_sources.hpp"
#include "channels/error_category.hpp"
#include "config/queue_names.hpp"
#include "core/edit_distance.hpp"
#include "core/logger.hpp"
#include "orchestration/task_state_machine.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <charconv>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tasker::api {

namespace {

using nlohmann::json;
using web::HttpRequest;
using web::HttpResponse;

constexpr std::string_view kComponent = "api";
// The longest a GET of a task may wait for it to finish.
constexpr int64_t kMaxTaskWaitMs = 60000;

// The status of a failed command; messages of client errors are the
// domain's own (they name the input), others say nothing internal.
HttpResponse error_response(const core::Error& error) {
  switch (error.code()) {
    case core::ErrorCode::invalid_argument:
    case core::ErrorCode::invalid_template:
    case core::ErrorCode::invalid_config:
      return HttpResponse::error(400, error.message());
    case core::ErrorCode::not_found:
      return HttpResponse::error(404, error.message());
    case core::ErrorCode::stale_transition:
    case core::ErrorCode::duplicate:
      return HttpResponse::error(409, error.message());
    case core::ErrorCode::backend_unavailable:
    case core::ErrorCode::backend_error:
    case core::ErrorCode::timeout:
      core::log_warn(kComponent, "request failed: " + error.to_string());
      return HttpResponse::error(503, "the task store or the messaging "
                                      "provider is unavailable; try again");
    default:
      core::log_warn(kComponent, "request failed: " + error.to_string());
      return HttpResponse::error(500, "internal error");
  }
}

HttpResponse error_response(const caf::error& error) {
  if (error == caf::sec::request_timeout)
    return HttpResponse::error(503, "the orchestration node did not answer in "
                                    "time; try again");
  return error_response(channels::from_caf_error(error));
}

// Asks the processor and waits; the reply or the error response.
template <class Reply, class Command>
std::variant<Reply, HttpResponse> ask(const OrchestrationApi& api,
                                      Command command) {
  caf::scoped_actor self{*api.system};
  std::variant<Reply, HttpResponse> out
      = HttpResponse::error(500, "internal error");
  self->request(api.processor, api.command_timeout, std::move(command))
      .receive(
          [&](Reply& reply) {
            out = std::move(reply);
          },
          [&](caf::error& err) {
            out = error_response(err);
          });
  return out;
}

// Parses a JSON object body; the error response names the problem.
std::variant<json, HttpResponse> object_body(const HttpRequest& request,
                                             bool optional = false) {
  if (request.body.empty() && optional)
    return json::object();
  auto body = json::parse(request.body, nullptr, false);
  if (body.is_discarded())
    return HttpResponse::error(400, "the request body is not valid JSON");
  if (!body.is_object())
    return HttpResponse::error(400, std::string{"the request body must be a "
                                                "JSON object, not "}
                                        + body.type_name());
  return body;
}

// Checks that `body` has only `known` fields and each present one has the
// expected type ("string", "integer", "object", "any"); names the first
// problem.
std::optional<std::string>
field_problem(const json& body,
              const std::vector<std::pair<std::string, std::string>>& known) {
  std::vector<std::string> names;
  for (const auto& [name, type] : known)
    names.push_back(name);
  for (const auto& [name, value] : body.items()) {
    auto field = std::find_if(known.begin(), known.end(), [&](const auto& k) {
      return k.first == name;
    });
    if (field == known.end()) {
      auto near = core::closest_match(name, names);
      return "unknown field '" + name + "'"
             + (near.empty() ? "" : " (did you mean '" + near + "'?)");
    }
    const auto& type = field->second;
    bool fits = type == "any" || (type == "string" && value.is_string())
                || (type == "integer" && value.is_number_integer())
                || (type == "object" && value.is_object());
    if (!fits)
      return "field '" + name + "' must be "
             + (type == "integer" ? "an " : "a ") + type + ", not "
             + value.type_name();
  }
  return std::nullopt;
}

std::string string_field(const json& body, const char* name) {
  auto i = body.find(name);
  return i == body.end() ? std::string{} : i->get<std::string>();
}

// The task request a POST /v1/tasks body asks for, or the response naming
// what is wrong with it.
std::variant<channels::TaskRequest, HttpResponse>
task_request(const OrchestrationApi& api, const HttpRequest& request) {
  auto parsed = object_body(request);
  if (auto* response = std::get_if<HttpResponse>(&parsed))
    return *response;
  auto& body = std::get<json>(parsed);
  if (auto problem = field_problem(body, {{"name", "string"},
                                          {"namespace", "string"},
                                          {"version", "string"},
                                          {"context", "object"},
                                          {"idempotency_key", "string"},
                                          {"priority", "integer"},
                                          {"initiator", "string"},
                                          {"source_system", "string"},
                                          {"reason", "string"}}))
    return HttpResponse::error(400, *problem);
  for (const char* required : {"name", "namespace", "context"})
    if (!body.contains(required))
      return HttpResponse::error(400, std::string{"missing field '"} + required
                                          + "'");
  channels::TaskRequest task;
  task.namespace_name = string_field(body, "namespace");
  task.name = string_field(body, "name");
  task.version = string_field(body, "version");
  task.context_json = body.at("context").dump();
  task.idempotency_key = string_field(body, "idempotency_key");
  if (body.contains("priority"))
    task.priority = body.at("priority").get<int32_t>();
  task.initiator = string_field(body, "initiator");
  task.source_system = string_field(body, "source_system");
  task.reason = string_field(body, "reason");
  std::optional<std::string_view> version;
  if (!task.version.empty())
    version = task.version;
  if (!api.catalog->find(task.namespace_name, task.name, version))
    return HttpResponse::error(
        400, "unknown template '" + task.namespace_name + "/" + task.name
                 + (task.version.empty() ? "" : " " + task.version)
                 + "' (fields 'namespace', 'name', 'version'; GET "
                   "/v1/templates lists them)");
  return task;
}

// The shard renders the task it created: an object, never empty.
bool rendered(const channels::TaskInitialized& initialized) {
  return initialized.created && initialized.task_json.size() > 2;
}

HttpResponse created_response(OrchestrationApi& api,
                              const channels::TaskInitialized& initialized) {
  if (rendered(initialized))
    return HttpResponse::text(
        201, "{\"created\":true," + initialized.task_json.substr(1),
        "application/json");
  auto snapshot = api.store.load(initialized.task_id);
  if (!snapshot)
    return error_response(snapshot.error());
  json out = *snapshot;
  out["created"] = initialized.created;
  // A duplicate request answers with the task it created before.
  return HttpResponse::json(initialized.created ? 201 : 200, out);
}

// Creates the task without holding an HTTP thread while its shard works
// through the results queued before it: the creator's actor asks and the
// answer replies. The shard renders a task it created; only a duplicate
// request's task is read back, on a thread of its own when reading blocks
// on the network (a thread per created task would cost its creation on
// every request).
void create_task(OrchestrationApi api, const HttpRequest& request,
                 const web::Router::Reply& reply) {
  auto task = task_request(api, request);
  if (auto* response = std::get_if<HttpResponse>(&task))
    return reply(std::move(*response));
  api.creator->create(
      channels::InitializeTask{
          std::move(std::get<channels::TaskRequest>(task))},
      [api,
       reply](caf::expected<channels::TaskInitialized> initialized) mutable {
        if (!initialized)
          return reply(error_response(initialized.error()));
        if (rendered(*initialized) || !api.store.blocks())
          return reply(created_response(api, *initialized));
        api.system->spawn<caf::detached>(
            [api, reply, initialized = std::move(*initialized)]() mutable {
              reply(created_response(api, initialized));
            });
      });
}

HttpResponse
task_response(const core::Result<orchestration::TaskSnapshot>& task) {
  if (!task)
    return error_response(task.error());
  return HttpResponse::json(200, json(*task));
}

HttpResponse get_steps(OrchestrationApi api, const HttpRequest& request) {
  auto snapshot = api.store.load(request.path_params.at("task_id"));
  if (!snapshot)
    return error_response(snapshot.error());
  return HttpResponse::json(
      200, {{"task_id", snapshot->task.id}, {"steps", json(snapshot->steps)}});
}

// Reads an integer query parameter in [low, high]; names it when bad.
std::variant<int64_t, HttpResponse> query_integer(const HttpRequest& request,
                                                  const std::string& name,
                                                  int64_t fallback, int64_t low,
                                                  int64_t high) {
  auto i = request.query.find(name);
  if (i == request.query.end())
    return fallback;
  int64_t value = 0;
  const auto& text = i->second;
  auto [end, ec]
      = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < low
      || value > high)
    return HttpResponse::error(
        400, "query parameter '" + name + "' must be an integer from "
                 + std::to_string(low) + " to " + std::to_string(high)
                 + ", not '" + text + "'");
  return value;
}

// Answers the task at once, or with `wait_ms`, when it reaches a final
// state (told by the store's completion watch) or at the latest after
// `wait_ms`, with the task as it then is.
void get_task(OrchestrationApi api, const HttpRequest& request,
              const web::Router::Reply& reply) {
  for (const auto& [name, value] : request.query)
    if (name != "wait_ms")
      return reply(HttpResponse::error(400, "unknown query parameter '" + name
                                                + "' (known: wait_ms)"));
  auto wait_ms = query_integer(request, "wait_ms", 0, 0, kMaxTaskWaitMs);
  if (auto* response = std::get_if<HttpResponse>(&wait_ms))
    return reply(std::move(*response));
  const auto& task_id = request.path_params.at("task_id");
  if (std::get<int64_t>(wait_ms) == 0)
    return reply(task_response(api.store.load(task_id)));
  auto& watch = api.store.completions();
  // Registered before the task is read, so that no finish is missed.
  auto ticket = watch.wait(
      task_id,
      std::chrono::steady_clock::now()
          + std::chrono::milliseconds{std::get<int64_t>(wait_ms)},
      [api, task_id,
       reply](std::optional<orchestration::TaskSnapshot> finished) mutable {
        if (finished)
          return reply(HttpResponse::json(200, json(*finished)));
        reply(task_response(api.store.load(task_id)));
      });
  // The state alone tells whether the watch answers: the whole task is
  // read only to answer now.
  auto state = api.store.task_state(task_id);
  bool answer_now = !state || orchestration::is_terminal(*state);
  // Else the watch answers; so it does when it ran the callback already.
  if (answer_now && watch.cancel(ticket))
    reply(task_response(api.store.load(task_id)));
}

HttpResponse list_tasks(OrchestrationApi api, const HttpRequest& request) {
  orchestration::TaskQuery query;
  for (const auto& [name, value] : request.query)
    if (name != "state" && name != "namespace" && name != "name"
        && name != "limit" && name != "offset")
      return HttpResponse::error(400, "unknown query parameter '" + name
                                          + "' (state, namespace, name, "
                                            "limit, offset)");
  if (auto state = request.query.find("state"); state != request.query.end()) {
    auto parsed = orchestration::parse_task_state(state->second);
    if (!parsed)
      return HttpResponse::error(400, "query parameter 'state': unknown task "
                                      "state '"
                                          + state->second + "'");
    query.state = parsed;
  }
  if (auto ns = request.query.find("namespace"); ns != request.query.end())
    query.namespace_name = ns->second;
  if (auto name = request.query.find("name"); name != request.query.end())
    query.name = name->second;
  auto limit = query_integer(request, "limit", 50, 1, 1000);
  if (auto* response = std::get_if<HttpResponse>(&limit))
    return *response;
  auto offset = query_integer(request, "offset", 0, 0, INT64_MAX);
  if (auto* response = std::get_if<HttpResponse>(&offset))
    return *response;
  query.limit = static_cast<int32_t>(std::get<int64_t>(limit));
  query.offset = std::get<int64_t>(offset);
  auto page = api.store.list_tasks(query);
  if (!page)
    return error_response(page.error());
  return HttpResponse::json(200, {{"tasks", json(page->tasks)},
                                  {"total", page->total},
                                  {"limit", query.limit},
                                  {"offset", query.offset}});
}

HttpResponse task_changed(const channels::TaskFinalized& reply) {
  return HttpResponse::json(
      200, {{"task_id", reply.task_id}, {"state", reply.final_status}});
}

HttpResponse cancel_task(OrchestrationApi api, const HttpRequest& request) {
  auto parsed = object_body(request, true);
  if (auto* response = std::get_if<HttpResponse>(&parsed))
    return *response;
  auto& body = std::get<json>(parsed);
  if (auto problem = field_problem(body, {{"reason", "string"}}))
    return HttpResponse::error(400, *problem);
  auto reply = ask<channels::TaskFinalized>(
      api, channels::CancelTask{request.path_params.at("task_id"),
                                string_field(body, "reason")});
  if (auto* response = std::get_if<HttpResponse>(&reply))
    return *response;
  return task_changed(std::get<channels::TaskFinalized>(reply));
}

HttpResponse step_action(OrchestrationApi api, const HttpRequest& request) {
  auto parsed = object_body(request);
  if (auto* response = std::get_if<HttpResponse>(&parsed))
    return *response;
  auto& body = std::get<json>(parsed);
  if (auto problem
      = field_problem(body, {{"action", "string"}, {"result", "any"}}))
    return HttpResponse::error(400, *problem);
  if (!body.contains("action"))
    return HttpResponse::error(400, "missing field 'action' (reset_for_retry, "
                                    "resolve_manually or complete_manually)");
  channels::ApplyStepAction command;
  command.task_id = request.path_params.at("task_id");
  command.step_name = request.path_params.at("step_name");
  command.action = string_field(body, "action");
  if (auto result = body.find("result"); result != body.end())
    command.result_json = result->dump();
  auto reply = ask<channels::TaskFinalized>(api, std::move(command));
  if (auto* response = std::get_if<HttpResponse>(&reply))
    return *response;
  return task_changed(std::get<channels::TaskFinalized>(reply));
}

HttpResponse list_templates(const OrchestrationApi& api) {
  json out = json::array();
  for (const auto& tmpl : api.catalog->templates()) {
    json steps = json::array();
    for (const auto& step : tmpl.steps)
      steps.push_back({{"name", step.name},
                       {"callable", step.handler.callable},
                       {"dependencies", step.dependencies}});
    out.push_back({{"namespace", tmpl.namespace_name},
                   {"name", tmpl.name},
                   {"version", tmpl.version},
                   {"description", tmpl.description},
                   {"queue", tmpl.queue_name()},
                   {"input_schema", tmpl.input_schema},
                   {"steps", std::move(steps)}});
  }
  return HttpResponse::json(200, {{"templates", std::move(out)}});
}

json dead_letter_json(const orchestration::DeadLetterEntry& entry) {
  auto ms = [](orchestration::TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               t.time_since_epoch())
        .count();
  };
  return {{"id", entry.id},
          {"task_id", entry.task_id},
          {"original_state", entry.original_state},
          {"reason", orchestration::to_string(entry.reason)},
          {"resolution", orchestration::to_string(entry.resolution)},
          {"snapshot", entry.snapshot},
          {"notes", entry.notes},
          {"resolved_by", entry.resolved_by},
          {"created_at", ms(entry.created_at)},
          {"updated_at", ms(entry.updated_at)}};
}

HttpResponse list_dead_letters(OrchestrationApi api,
                               const HttpRequest& request) {
  std::optional<orchestration::DeadLetterResolution> resolution;
  if (auto i = request.query.find("resolution"); i != request.query.end()) {
    resolution = orchestration::parse_dead_letter_resolution(i->second);
    if (!resolution)
      return HttpResponse::error(400, "query parameter 'resolution': unknown "
                                      "resolution '"
                                          + i->second
                                          + "' (pending, manually_resolved, "
                                            "permanently_failed, cancelled)");
  }
  auto limit = query_integer(request, "limit", 50, 1, 1000);
  if (auto* response = std::get_if<HttpResponse>(&limit))
    return *response;
  auto entries = api.store.dead_letters(
      resolution, static_cast<int32_t>(std::get<int64_t>(limit)));
  if (!entries)
    return error_response(entries.error());
  json out = json::array();
  for (const auto& entry : *entries)
    out.push_back(dead_letter_json(entry));
  return HttpResponse::json(200, {{"dead_letters", std::move(out)}});
}

HttpResponse update_dead_letter(OrchestrationApi api,
                                const HttpRequest& request) {
  int64_t id = 0;
  const auto& text = request.path_params.at("id");
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size())
    return HttpResponse::error(400, "dead-letter id '" + text
                                        + "' is not an integer");
  auto parsed = object_body(request);
  if (auto* response = std::get_if<HttpResponse>(&parsed))
    return *response;
  auto& body = std::get<json>(parsed);
  if (auto problem = field_problem(body, {{"resolution", "string"},
                                          {"notes", "string"},
                                          {"resolved_by", "string"}}))
    return HttpResponse::error(400, *problem);
  auto resolution = orchestration::parse_dead_letter_resolution(
      string_field(body, "resolution"));
  if (!resolution)
    return HttpResponse::error(400, "field 'resolution' must be one of "
                                    "pending, manually_resolved, "
                                    "permanently_failed, cancelled");
  auto updated = api.store.resolve_dead_letter(
      id, *resolution, string_field(body, "notes"),
      string_field(body, "resolved_by"));
  if (!updated)
    return error_response(updated.error());
  return HttpResponse::json(200, dead_letter_json(*updated));
}

Readiness readiness(OrchestrationApi api) {
  Readiness out;
  // A lookup by primary key: the store answers without counting tasks
  // (a listing counts every match, slow on large tables).
  auto probe = api.store.load("00000000-0000-0000-0000-000000000000");
  bool database
      = probe.ok() || probe.error().code() == core::ErrorCode::not_found;
  out.checks["database"] = {{"ok", database}};
  auto provider = api.provider;
  bool queues
      = provider.queue_exists(std::string{config::kStepResultsQueue}).ok();
  out.checks["provider"]
      = {{"ok", queues}, {"name", std::string{provider.provider_name()}}};
  caf::scoped_actor self{*api.system};
  bool events = false;
  self->request(api.event_system, std::chrono::seconds{2},
                channels::GetEventSystemStatus{})
      .receive(
          [&](channels::EventSystemStatus& status) {
            events = true;
            out.checks["event_system"]
                = {{"ok", true},
                   {"mode", status.effective_mode},
                   {"in_flight", status.stats.in_flight},
                   {"limit", status.stats.limit},
                   {"saturation", status.stats.saturation()}};
          },
          [&](caf::error&) {
            out.checks["event_system"] = {{"ok", false}};
          });
  out.ready = database && queues && events;
  return out;
}

} // namespace

core::Result<void> add_orchestration_routes(web::Router& router,
                                            const OrchestrationApi& api) {
  using Handler = web::Router::Handler;
  std::vector<std::tuple<std::string, std::string, Handler>> routes{
      {"GET", "/v1/tasks",
       [api](const HttpRequest& r) {
         return list_tasks(api, r);
       }},
      {"GET", "/v1/tasks/{task_id}/steps",
       [api](const HttpRequest& r) {
         return get_steps(api, r);
       }},
      {"POST", "/v1/tasks/{task_id}/cancel",
       [api](const HttpRequest& r) {
         return cancel_task(api, r);
       }},
      {"POST", "/v1/tasks/{task_id}/steps/{step_name}/actions",
       [api](const HttpRequest& r) {
         return step_action(api, r);
       }},
      {"GET", "/v1/templates",
       [api](const HttpRequest&) {
         return list_templates(api);
       }},
      {"GET", "/v1/dlq",
       [api](const HttpRequest& r) {
         return list_dead_letters(api, r);
       }},
      {"PATCH", "/v1/dlq/{id}", [api](const HttpRequest& r) {
         return update_dead_letter(api, r);
       }}};
  for (auto& [method, pattern, handler] : routes)
    if (auto added = router.add(method, pattern, std::move(handler)); !added)
      return added;
  using Deferred = web::Router::DeferredHandler;
  if (!api.creator)
    return core::Error{core::ErrorCode::invalid_argument,
                       "the orchestration API needs a task creator"};
  std::vector<std::tuple<std::string, std::string, Deferred>> deferred{
      {"POST", "/v1/tasks",
       [api](const HttpRequest& r, web::Router::Reply reply) {
         create_task(api, r, reply);
       }},
      {"GET", "/v1/tasks/{task_id}",
       [api](const HttpRequest& r, web::Router::Reply reply) {
         get_task(api, r, reply);
       }}};
  for (auto& [method, pattern, handler] : deferred)
    if (auto added = router.add_deferred(method, pattern, std::move(handler));
        !added)
      return added;
  return add_health_routes(
      router,
      [api] {
        return readiness(api);
      },
      api.metrics);
}

void add_orchestration_metrics(const OrchestrationApi& endpoints) {
  // The registry owns its collectors: one holding the registry would never
  // be freed, nor the actors it names (the actor system would wait for
  // them at exit forever).
  auto api = endpoints;
  api.metrics = nullptr;
  endpoints.metrics->add_collector([api](web::MetricsRegistry& metrics) {
    auto store = api.store;
    // Unfinished states only: their tasks are counted through the live
    // tasks' index; counting a final state reads every task that ever
    // reached it (a second or more per scrape with millions of tasks), so
    // finished tasks are counters (`tasker_tasks_finished_total`).
    for (auto state : {orchestration::TaskState::pending,
                       orchestration::TaskState::initializing,
                       orchestration::TaskState::enqueuing_steps,
                       orchestration::TaskState::steps_in_process,
                       orchestration::TaskState::evaluating_results,
                       orchestration::TaskState::waiting_for_dependencies,
                       orchestration::TaskState::waiting_for_retry,
                       orchestration::TaskState::blocked_by_failures}) {
      orchestration::TaskQuery query;
      query.state = state;
      query.limit = 1;
      if (auto page = store.list_tasks(query))
        metrics
            .gauge("tasker_tasks", "Tasks by state.",
                   {{"state", std::string{orchestration::to_string(state)}}})
            .set(static_cast<double>(page->total));
    }
    if (auto pending = store.dead_letters(
            orchestration::DeadLetterResolution::pending, 100000))
      metrics
          .gauge("tasker_dead_letters_pending",
                 "Dead-letter records waiting for an operator.")
          .set(static_cast<double>(pending->size()));
    auto queues = config::orchestration_queue_names();
    for (const auto& queue : api.catalog->queue_names())
      queues.push_back(queue);
    record_queue_depths(metrics, api.provider, queues);
    caf::scoped_actor self{*api.system};
    self->request(api.event_system, std::chrono::seconds{2},
                  channels::GetEventSystemStatus{})
        .receive(
            [&](channels::EventSystemStatus& status) {
              record_event_system(metrics, status);
            },
            [](caf::error&) {});
    self->request(api.processor, std::chrono::seconds{2},
                  channels::GetProcessingStats{})
        .receive(
            [&](channels::ProcessingStats& stats) {
              raise_counter(metrics, "tasker_tasks_initialized_total",
                            "Tasks created by this node.",
                            stats.tasks_initialized);
              raise_counter(metrics, "tasker_step_results_total",
                            "Step results decided by this node.",
                            stats.step_results_processed);
              raise_counter(metrics, "tasker_commands_failed_total",
                            "Commands this node could not carry out.",
                            stats.commands_failed);
              raise_counter(metrics, "tasker_result_batches_total",
                            "Writes the step results were decided in.",
                            stats.result_batches);
              raise_counter(metrics, "tasker_creation_batches_total",
                            "Store calls the tasks were created in.",
                            stats.creation_batches);
              for (const auto& [state, total] :
                   {std::pair{orchestration::TaskState::complete,
                              stats.tasks_complete},
                    std::pair{orchestration::TaskState::error,
                              stats.tasks_error},
                    std::pair{orchestration::TaskState::cancelled,
                              stats.tasks_cancelled},
                    std::pair{orchestration::TaskState::resolved_manually,
                              stats.tasks_resolved_manually}})
                raise_counter(
                    metrics, "tasker_tasks_finished_total",
                    "Tasks this node brought to a final state.", total,
                    {{"state", std::string{orchestration::to_string(state)}}});
            },
            [](caf::error&) {});
  });
}

} // namespace tasker::api
