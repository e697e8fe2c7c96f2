#include "worker/worker_bootstrap.hpp"

#include "config/queue_names.hpp"
#include "messaging/queue_setup.hpp"
#include "worker/builtin_handlers.hpp"
#include "worker/exec_handler.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace tasker::worker {

namespace {

core::Error invalid(std::string message) {
  return core::Error{core::ErrorCode::invalid_config, std::move(message)};
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "none" : out;
}

} // namespace

core::Result<WorkerPlan> plan_worker(const config::NodeConfig& config,
                                     const config::TemplateCatalog& catalog,
                                     const HandlerRegistry& registry) {
  WorkerPlan plan;
  auto found = catalog.namespaces();
  if (config.worker.namespaces.empty()) {
    plan.namespaces = found;
  } else {
    std::set<std::string> wanted(config.worker.namespaces.begin(),
                                 config.worker.namespaces.end());
    for (const auto& ns : wanted)
      if (!std::binary_search(found.begin(), found.end(), ns))
        return invalid("worker.namespaces names '" + ns
                       + "', which no template in '" + config.template_path
                       + "' declares (found: " + joined(found) + ")");
    plan.namespaces.assign(wanted.begin(), wanted.end());
  }
  if (plan.namespaces.empty())
    return invalid("no namespace to serve: the templates in '"
                   + config.template_path + "' declare none");
  for (const auto& ns : plan.namespaces) {
    plan.queues.push_back(config::worker_queue_name(ns));
    plan.concurrency[ns] = config.worker.max_concurrent_steps;
  }
  for (const auto& item : config.worker.namespace_concurrency) {
    auto parts = config::split_assignment(item);
    int64_t limit = 0;
    if (parts) {
      auto& text = parts->second;
      auto [end, ec]
          = std::from_chars(text.data(), text.data() + text.size(), limit);
      if (ec != std::errc{} || end != text.data() + text.size() || limit < 1)
        parts.reset();
    }
    if (!parts)
      return invalid("worker.namespace_concurrency: '" + item
                     + "' is not \"NAMESPACE=N\" with N >= 1");
    auto served = plan.concurrency.find(parts->first);
    if (served == plan.concurrency.end())
      return invalid("worker.namespace_concurrency: '" + parts->first
                     + "' is not a namespace this worker serves (serves: "
                     + joined(plan.namespaces) + ")");
    served->second = limit;
  }
  for (const auto& tmpl : catalog.templates()) {
    if (!plan.concurrency.contains(tmpl.namespace_name))
      continue;
    for (const auto& step : tmpl.steps)
      if (!registry.find(step.handler.callable))
        plan.unserved_steps.push_back(
            "step '" + step.name + "' of " + tmpl.namespace_name + "/"
            + tmpl.name + " " + tmpl.version + " (" + tmpl.source_file
            + ") uses callable '" + step.handler.callable
            + "', which no handler of this worker serves: its steps will "
              "fail");
  }
  return plan;
}

core::Result<std::shared_ptr<HandlerRegistry>>
make_registry(const config::WorkerConfig& config) {
  auto registry = std::make_shared<HandlerRegistry>();
  for (const auto& item : config.exec_handlers) {
    auto spec = parse_exec_handler(item);
    if (!spec)
      return invalid("worker.exec_handlers: " + spec.error().message());
    auto callable = spec->callable;
    auto added = registry->add(
        callable, [spec = std::move(*spec)](const StepInput& input) {
          return run_exec_handler(spec, input);
        });
    if (!added)
      return invalid("worker.exec_handlers: " + added.error().message());
  }
  add_builtin_handlers(*registry);
  return registry;
}

config::NodeConfig provider_config_for(const config::NodeConfig& config,
                                       const WorkerPlan& plan) {
  auto out = config;
  auto fill
      = [&plan](std::vector<std::string>& queue_prefetch, int64_t per_slot) {
          std::set<std::string> configured;
          for (const auto& item : queue_prefetch)
            if (auto parts = config::split_assignment(item))
              configured.insert(parts->first);
          for (const auto& [ns, limit] : plan.concurrency) {
            auto queue = config::worker_queue_name(ns);
            if (!configured.contains(queue))
              queue_prefetch.push_back(queue + "="
                                       + std::to_string(per_slot * limit));
          }
        };
  // A RabbitMQ worker's slot passes on when the handler returns, while the
  // message stays unacked until its result is sent: the broker must push
  // up to twice the slots to keep them busy.
  fill(out.rabbitmq.queue_prefetch, 2);
  fill(out.in_memory.queue_prefetch, 1);
  return out;
}

core::Result<void> prepare_queues(messaging::MessagingProvider& provider,
                                  const WorkerPlan& plan) {
  auto queues = plan.queues;
  queues.emplace_back(config::kStepResultsQueue);
  return messaging::ensure_and_verify_queues(provider, queues, "worker's");
}

std::string worker_id_of(const config::WorkerConfig& config) {
  if (!config.worker_id.empty())
    return config.worker_id;
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0)
    host = {'h', 'o', 's', 't'};
  return "worker-" + std::string{host.data()} + "-" + std::to_string(getpid());
}

} // namespace tasker::worker
