#include "apps/common/node_startup.hpp"

#include "core/logger.hpp"

#include <pthread.h>

namespace tasker::apps {

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

std::string wait_for_stop_signal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received == SIGTERM ? "SIGTERM" : "SIGINT";
}

core::Result<config::LoadedConfig>
load_node_config(const std::optional<std::filesystem::path>& file,
                 std::string_view component) {
  auto loaded = config::ConfigLoader::load(
      file, config::ConfigLoader::process_environment());
  if (!loaded)
    return loaded;
  core::LogLevel level;
  if (core::parse_log_level(loaded->config.log_level, level))
    core::Logger::set_level(level);
  for (const auto& warning : loaded->warnings)
    core::log_warn(component, warning);
  core::log_info(
      component,
      "configuration: "
          + (loaded->file ? loaded->file->string() : std::string{"defaults"})
          + " and environment; environment " + loaded->config.environment
          + ", provider "
          + std::string{config::to_string(loaded->config.messaging_backend)});
  return loaded;
}

core::Result<config::TemplateCatalog>
load_templates(const config::NodeConfig& config, std::string_view component) {
  auto catalog = config::TemplateCatalog::load(config.template_path);
  if (!catalog)
    return core::Error{catalog.error().code(),
                       "templates: " + catalog.error().message()};
  core::log_info(component, std::to_string(catalog->templates().size())
                                + " template(s) from '" + config.template_path
                                + "'");
  return catalog;
}

core::Result<WorkerSetup>
plan_worker_node(const config::NodeConfig& config,
                 const config::TemplateCatalog& catalog,
                 std::string_view component) {
  auto registry = worker::make_registry(config.worker);
  if (!registry)
    return registry.error();
  auto plan = worker::plan_worker(config, catalog, **registry);
  if (!plan)
    return plan.error();
  for (const auto& line : plan->unserved_steps)
    core::log_warn(component, line);
  std::string served;
  for (const auto& [ns, limit] : plan->concurrency)
    served += (served.empty() ? "" : ", ") + ns + " (" + std::to_string(limit)
              + " at once)";
  core::log_info(component, "serving " + served);
  return WorkerSetup{*registry, *plan};
}

int fail(std::string_view component, int code, const std::string& message) {
  core::log_error(component, message);
  return code;
}

} // namespace tasker::apps
