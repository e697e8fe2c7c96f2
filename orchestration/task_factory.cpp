#include "orchestration/task_factory.hpp"

#include "orchestration/context_validator.hpp"
#include "orchestration/task_identity.hpp"

namespace tasker::orchestration {

core::Result<NewTask> make_new_task(const config::TaskTemplate& tmpl,
                                    const nlohmann::json& context,
                                    const TaskOptions& options) {
  auto valid = validate_context(tmpl.input_schema, context);
  if (!valid)
    return core::Error{valid.error().code(),
                       "task '" + tmpl.namespace_name + "/" + tmpl.name
                           + "': " + valid.error().message()};
  auto order = tmpl.topological_order();
  if (!order)
    return order.error();
  NewTask out;
  out.namespace_name = tmpl.namespace_name;
  out.name = tmpl.name;
  out.version = tmpl.version;
  out.context = context;
  out.idempotency_key = options.idempotency_key;
  out.identity_hash = task_identity_hash(
      tmpl.namespace_name, tmpl.name, tmpl.version, context,
      options.idempotency_key
          ? std::optional<std::string_view>{*options.idempotency_key}
          : std::nullopt);
  out.priority = options.priority;
  out.initiator = options.initiator;
  out.source_system = options.source_system;
  out.reason = options.reason;
  for (const auto& name : *order) {
    const auto* definition = tmpl.find_step(name);
    NewStep step;
    step.name = definition->name;
    step.handler = definition->handler.callable;
    step.handler_initialization = definition->handler.initialization;
    step.retry = definition->retry;
    step.timeout_seconds = definition->timeout_seconds;
    step.dependencies = definition->dependencies;
    out.steps.push_back(std::move(step));
  }
  return out;
}

} // namespace tasker::orchestration
