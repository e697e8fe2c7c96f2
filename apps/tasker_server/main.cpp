// tasker-server: an orchestration node, or (--all-in-one) orchestration and
// a worker in one process. Exit codes (apps/common/node_startup.hpp): 0
// stopped by SIGTERM/SIGINT after draining (or --run-examples: every task
// completed), 1 --run-examples: a task did not complete, 2 usage or invalid
// configuration or templates, 3 PostgreSQL or the provider unreachable.

#include "api/orchestration_api.hpp"
#include "api/worker_api.hpp"
#include "apps/common/node_startup.hpp"
#include "apps/tasker_server/example_run.hpp"
#include "channels/actor_system_setup.hpp"
#include "core/logger.hpp"
#include "messaging/messaging_provider.hpp"
#include "orchestration/orchestration_node.hpp"
#include "web/http_server.hpp"
#include "worker/worker_node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace tasker;

constexpr const char* kUsageText
    = R"(usage: tasker-server [--config FILE] [--all-in-one [--run-examples [--context JSON]]]

Runs an orchestration node: creates tasks, decides what runs next, and
stops gracefully on SIGTERM or SIGINT.

  --all-in-one      also run a worker in the same process (with the
                    defaults: in-memory provider and store, no server)
  --run-examples    with --all-in-one: create one task of every template,
                    print each step's result as it finishes and each task's
                    result, then exit (0 when every task completed)
  --context JSON    the examples' context (default {"even_number": 6})

The configuration file is --config FILE, else TASKER_CONFIG_PATH, else none
(defaults plus environment, e.g. TASKER_MESSAGING_BACKEND=pgmq and
DATABASE_URL); see docs/configuration.md. Exit codes: 0 stopped after
draining or every example completed, 1 an example did not complete, 2 bad
usage, configuration or templates, 3 PostgreSQL or the provider unreachable.
)";

constexpr std::string_view kComponent = "tasker-server";

struct Options {
  std::optional<std::filesystem::path> file;
  bool all_in_one = false;
  bool run_examples = false;
  nlohmann::json context = {{"even_number", 6}};
};

// Parses the command line; an error message, or nothing.
std::optional<std::string> parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--config" && has_value) {
      options.file = argv[++i];
    } else if (arg == "--all-in-one") {
      options.all_in_one = true;
    } else if (arg == "--run-examples") {
      options.run_examples = true;
    } else if (arg == "--context" && has_value) {
      options.context = nlohmann::json::parse(argv[++i], nullptr, false);
      if (!options.context.is_object())
        return "--context: expected a JSON object, got '" + std::string{argv[i]}
               + "'";
    } else {
      return "unknown argument '" + std::string{arg} + "'";
    }
  }
  if (options.run_examples && !options.all_in_one)
    return "--run-examples needs --all-in-one (a worker in the process)";
  return std::nullopt;
}

} // namespace

int main(int argc, char** argv) {
  auto stop_signals = apps::block_stop_signals();
  for (int i = 1; i < argc; ++i)
    if (std::string_view{argv[i]} == "--help"
        || std::string_view{argv[i]} == "-h") {
      std::cout << kUsageText;
      return apps::kExitOk;
    }
  Options options;
  if (auto problem = parse(argc, argv, options)) {
    std::cerr << "tasker-server: " << *problem << "\n\n" << kUsageText;
    return apps::kExitUsage;
  }

  auto loaded = apps::load_node_config(options.file, kComponent);
  if (!loaded)
    return apps::fail(kComponent, apps::kExitUsage, loaded.error().message());
  const auto& config = loaded->config;
  auto catalog = apps::load_templates(config, kComponent);
  if (!catalog)
    return apps::fail(kComponent, apps::kExitUsage, catalog.error().message());
  auto shared_catalog
      = std::make_shared<const config::TemplateCatalog>(*catalog);
  std::optional<apps::WorkerSetup> worker_setup;
  auto provider_config = config;
  if (options.all_in_one) {
    auto setup = apps::plan_worker_node(config, *catalog, kComponent);
    if (!setup)
      return apps::fail(kComponent, apps::kExitUsage, setup.error().message());
    provider_config = worker::provider_config_for(config, setup->plan);
    worker_setup = std::move(*setup);
  }

  auto provider = messaging::MessagingProvider::from_config(provider_config);
  if (!provider)
    return apps::fail(
        kComponent, apps::kExitUnreachable,
        "messaging provider '"
            + std::string{config::to_string(config.messaging_backend)}
            + "': " + provider.error().message());
  if (auto ready
      = orchestration::prepare_orchestration_queues(*provider, *catalog);
      !ready)
    return apps::fail(kComponent, apps::kExitUnreachable,
                      ready.error().message());
  core::log_info(kComponent, "queues ensured and verified: the orchestration "
                             "queues and "
                                 + std::to_string(catalog->namespaces().size())
                                 + " namespace queue(s)");
  auto store = orchestration::open_task_store(config);
  if (!store)
    return apps::fail(kComponent, apps::kExitUnreachable,
                      store.error().message());

  caf::actor_system_config cfg;
  channels::configure_actor_system(
      cfg, static_cast<std::size_t>(config.scheduler_threads));
  caf::actor_system system{cfg};
  int exit_code = apps::kExitOk;
  {
    orchestration::OrchestrationNode node{system, *provider, *store,
                                          shared_catalog, config};
    std::optional<worker::WorkerNode> worker_node;
    if (worker_setup)
      worker_node.emplace(system, *provider, worker_setup->registry,
                          worker_setup->plan, config);
    // The REST API, health and metrics (not for a run of the examples).
    std::unique_ptr<web::HttpServer> http;
    std::shared_ptr<api::TaskCreator> creator;
    if (!options.run_examples) {
      api::OrchestrationApi endpoints{
          .system = &system,
          .processor = node.processor(),
          .event_system = node.event_system(),
          .store = node.store(),
          .provider = *provider,
          .catalog = shared_catalog,
          .metrics = std::make_shared<web::MetricsRegistry>(),
          .creator = nullptr};
      creator = std::make_shared<api::TaskCreator>(
          system, caf::actor_cast<caf::actor>(node.processor()),
          api::TaskCreatorOptions{endpoints.command_timeout});
      endpoints.creator = creator;
      auto router = std::make_shared<web::Router>();
      if (auto added = api::add_orchestration_routes(*router, endpoints);
          !added)
        return apps::fail(kComponent, apps::kExitFailed,
                          added.error().message());
      api::add_orchestration_metrics(endpoints);
      web::HttpServerOptions http_options;
      http_options.bind_address = config.orchestration.bind_address;
      http_options.api_key = config.orchestration.api_key;
      http_options.max_body_bytes
          = static_cast<std::size_t>(config.orchestration.max_request_bytes);
      http = std::make_unique<web::HttpServer>(http_options, router);
      if (auto listening = http->start(); !listening)
        return apps::fail(kComponent, apps::kExitUsage,
                          "orchestration.bind_address: "
                              + listening.error().message());
      core::log_info(kComponent, std::string{"REST API on "}
                                     + config.orchestration.bind_address
                                     + (config.orchestration.api_key.empty()
                                            ? " (no API key)"
                                            : " (API key required)"));
    }
    core::log_info(kComponent, options.all_in_one
                                   ? "ready (all in one: orchestration and "
                                     "worker)"
                                   : "ready");
    if (options.run_examples) {
      bool complete
          = apps::run_examples(system, node, *catalog, options.context,
                               std::cout, std::chrono::seconds{60});
      exit_code = complete ? apps::kExitOk : apps::kExitFailed;
    } else {
      auto received = apps::wait_for_stop_signal(stop_signals);
      core::log_info(
          kComponent,
          "received " + received + "; draining up to "
              + std::to_string(config.orchestration.shutdown_timeout_ms)
              + " ms");
    }
    // Long polls and creations still waiting answer now, long polls with
    // their tasks as they are.
    node.store().completions().close();
    if (creator)
      creator->close();
    if (http)
      http->stop();
    if (worker_node)
      worker_node->shutdown(
          std::chrono::milliseconds{config.worker.shutdown_timeout_ms});
    bool drained = node.shutdown(
        std::chrono::milliseconds{config.orchestration.shutdown_timeout_ms});
    core::log_info(kComponent, drained ? "stopped: drained"
                                       : "stopped at the drain deadline");
  }
  return exit_code;
}
