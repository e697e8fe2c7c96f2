// tasker-worker: a worker node. Exit codes: 0 stopped by SIGTERM/SIGINT
// after draining, 1 failed while running, 2 usage or invalid configuration
// or templates, 3 the messaging provider cannot be reached or its queues
// are not usable.

#include "channels/actor_system_setup.hpp"
#include "config/config_loader.hpp"
#include "config/template_catalog.hpp"
#include "core/logger.hpp"
#include "messaging/messaging_provider.hpp"
#include "worker/worker_bootstrap.hpp"
#include "worker/worker_node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <csignal>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace tasker;

constexpr int kOk = 0;
constexpr int kUsage = 2;
constexpr int kUnreachable = 3;

constexpr const char* kUsageText = R"(usage: tasker-worker [--config FILE]

Runs a worker node: serves the namespaces of the templates in template_path
(or worker.namespaces), runs their steps' handlers, and stops gracefully on
SIGTERM or SIGINT. The configuration file is --config FILE, else
TASKER_CONFIG_PATH, else none (defaults plus environment); see
docs/configuration.md.
)";

constexpr std::string_view kComponent = "tasker-worker";

int fail(int code, const std::string& message) {
  core::log_error(kComponent, message);
  return code;
}

} // namespace

int main(int argc, char** argv) {
  // Blocked here, before any thread starts, so every thread inherits the
  // mask and only `sigwait` below sees the signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<std::filesystem::path> file;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsageText;
      return kOk;
    }
    if (arg == "--config" && i + 1 < argc) {
      file = argv[++i];
      continue;
    }
    std::cerr << "tasker-worker: unknown argument '" << arg << "'\n\n"
              << kUsageText;
    return kUsage;
  }

  auto loaded = config::ConfigLoader::load(
      file, config::ConfigLoader::process_environment());
  if (!loaded)
    return fail(kUsage, loaded.error().message());
  const auto& config = loaded->config;
  core::LogLevel level;
  if (core::parse_log_level(config.log_level, level))
    core::Logger::set_level(level);
  for (const auto& warning : loaded->warnings)
    core::log_warn(kComponent, warning);
  core::log_info(kComponent, "configuration: "
                                 + (loaded->file ? loaded->file->string()
                                                 : std::string{"defaults"})
                                 + ", environment " + config.environment);

  auto catalog = config::TemplateCatalog::load(config.template_path);
  if (!catalog)
    return fail(kUsage, "templates: " + catalog.error().message());
  auto registry = worker::make_registry(config.worker);
  if (!registry)
    return fail(kUsage, registry.error().message());
  auto plan = worker::plan_worker(config, *catalog, **registry);
  if (!plan)
    return fail(kUsage, plan.error().message());
  for (const auto& line : plan->unserved_steps)
    core::log_warn(kComponent, line);
  std::string served;
  for (const auto& [ns, limit] : plan->concurrency)
    served += (served.empty() ? "" : ", ") + ns + " (" + std::to_string(limit)
              + " at once)";
  core::log_info(kComponent, std::to_string(catalog->templates().size())
                                 + " template(s) from '" + config.template_path
                                 + "'; serving " + served);

  auto provider = messaging::MessagingProvider::from_config(
      worker::provider_config_for(config, *plan));
  if (!provider)
    return fail(kUnreachable,
                "messaging provider '"
                    + std::string{config::to_string(config.messaging_backend)}
                    + "': " + provider.error().message());
  if (auto ready = worker::prepare_queues(*provider, *plan); !ready)
    return fail(kUnreachable, ready.error().message());
  std::string queues;
  for (const auto& queue : plan->queues)
    queues += (queues.empty() ? "" : ", ") + queue;
  core::log_info(kComponent, "provider "
                                 + std::string{provider->provider_name()}
                                 + ", queues ensured and verified: " + queues);

  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system system{cfg};
  {
    worker::WorkerNode node{system, *provider, *registry, *plan, config};
    core::log_info(kComponent, "ready");
    int received = 0;
    sigwait(&stop_signals, &received);
    core::log_info(
        kComponent,
        std::string{"received "} + (received == SIGTERM ? "SIGTERM" : "SIGINT")
            + "; draining up to "
            + std::to_string(config.worker.shutdown_timeout_ms) + " ms");
    bool drained = node.shutdown(
        std::chrono::milliseconds{config.worker.shutdown_timeout_ms});
    core::log_info(kComponent, drained ? "stopped: every running step finished"
                                       : "stopped: steps still running were "
                                         "abandoned (their messages come back "
                                         "after their lease)");
  }
  return kOk;
}
