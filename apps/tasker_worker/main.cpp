// tasker-worker: a worker node. Exit codes (apps/common/node_startup.hpp):
// 0 stopped by SIGTERM/SIGINT after draining, 2 usage or invalid
// configuration or templates, 3 the messaging provider cannot be reached or
// its queues are not usable.

#include "api/worker_api.hpp"
#include "apps/common/node_startup.hpp"
#include "channels/actor_system_setup.hpp"
#include "core/logger.hpp"
#include "messaging/messaging_provider.hpp"
#include "web/http_server.hpp"
#include "worker/worker_node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace tasker;

constexpr const char* kUsageText = R"(usage: tasker-worker [--config FILE]

Runs a worker node: serves the namespaces of the templates in template_path
(or worker.namespaces), runs their steps' handlers, and stops gracefully on
SIGTERM or SIGINT. The configuration file is --config FILE, else
TASKER_CONFIG_PATH, else none (defaults plus environment); see
docs/configuration.md. Exit codes: 0 stopped after draining, 2 bad usage,
configuration or templates, 3 provider unreachable or queues unusable.
)";

constexpr std::string_view kComponent = "tasker-worker";

} // namespace

int main(int argc, char** argv) {
  auto stop_signals = apps::block_stop_signals();
  std::optional<std::filesystem::path> file;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsageText;
      return apps::kExitOk;
    }
    if (arg == "--config" && i + 1 < argc) {
      file = argv[++i];
      continue;
    }
    std::cerr << "tasker-worker: unknown argument '" << arg << "'\n\n"
              << kUsageText;
    return apps::kExitUsage;
  }

  auto loaded = apps::load_node_config(file, kComponent);
  if (!loaded)
    return apps::fail(kComponent, apps::kExitUsage, loaded.error().message());
  const auto& config = loaded->config;
  auto catalog = apps::load_templates(config, kComponent);
  if (!catalog)
    return apps::fail(kComponent, apps::kExitUsage, catalog.error().message());
  auto setup = apps::plan_worker_node(config, *catalog, kComponent);
  if (!setup)
    return apps::fail(kComponent, apps::kExitUsage, setup.error().message());

  auto provider = messaging::MessagingProvider::from_config(
      worker::provider_config_for(config, setup->plan));
  if (!provider)
    return apps::fail(
        kComponent, apps::kExitUnreachable,
        "messaging provider '"
            + std::string{config::to_string(config.messaging_backend)}
            + "': " + provider.error().message());
  if (auto ready = worker::prepare_queues(*provider, setup->plan); !ready)
    return apps::fail(kComponent, apps::kExitUnreachable,
                      ready.error().message());
  std::string queues;
  for (const auto& queue : setup->plan.queues)
    queues += (queues.empty() ? "" : ", ") + queue;
  core::log_info(kComponent, "queues ensured and verified: " + queues);

  caf::actor_system_config cfg;
  channels::configure_actor_system(
      cfg, static_cast<std::size_t>(config.scheduler_threads));
  caf::actor_system system{cfg};
  auto metrics = std::make_shared<web::MetricsRegistry>();
  auto& durations = metrics->histogram("tasker_step_duration_seconds",
                                       "Handler run time of steps.",
                                       api::step_duration_buckets());
  {
    worker::WorkerNode node{
        system,
        *provider,
        setup->registry,
        setup->plan,
        config,
        [&durations](const std::string&, bool,
                     std::chrono::duration<double> elapsed) {
          durations.observe(elapsed.count());
        }};
    api::WorkerApi endpoints{.system = &system,
                             .processor = node.processor(),
                             .event_systems = node.event_systems(),
                             .provider = *provider,
                             .queues = setup->plan.queues,
                             .metrics = metrics};
    auto router = std::make_shared<web::Router>();
    if (auto added = api::add_worker_routes(*router, endpoints); !added)
      return apps::fail(kComponent, apps::kExitFailed, added.error().message());
    api::add_worker_metrics(endpoints);
    web::HttpServerOptions http_options;
    http_options.bind_address = config.worker.bind_address;
    web::HttpServer http{http_options, router};
    if (auto listening = http.start(); !listening)
      return apps::fail(kComponent, apps::kExitUsage,
                        "worker.bind_address: " + listening.error().message());
    core::log_info(kComponent,
                   "health and metrics on " + config.worker.bind_address);
    core::log_info(kComponent, "ready");
    auto received = apps::wait_for_stop_signal(stop_signals);
    core::log_info(kComponent,
                   "received " + received + "; draining up to "
                       + std::to_string(config.worker.shutdown_timeout_ms)
                       + " ms");
    http.stop();
    bool drained = node.shutdown(
        std::chrono::milliseconds{config.worker.shutdown_timeout_ms});
    core::log_info(kComponent, drained ? "stopped: every running step finished"
                                       : "stopped: steps still running were "
                                         "abandoned (their messages come back "
                                         "after their lease)");
  }
  return apps::kExitOk;
}
