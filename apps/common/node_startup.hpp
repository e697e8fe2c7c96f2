#pragma once

#include "config/config_loader.hpp"
#include "config/template_catalog.hpp"
#include "core/result.hpp"
#include "worker/worker_bootstrap.hpp"

#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

/// What `tasker-server` and `tasker-worker` do alike before and after they
/// run: exit codes, stop signals, configuration and logging set-up.
namespace tasker::apps {

/// Stopped by SIGTERM/SIGINT after draining.
inline constexpr int kExitOk = 0;
/// Failed while running.
inline constexpr int kExitFailed = 1;
/// Bad usage, configuration or templates.
inline constexpr int kExitUsage = 2;
/// PostgreSQL or the messaging provider cannot be reached, or a queue is
/// unusable.
inline constexpr int kExitUnreachable = 3;

/// Blocks SIGTERM and SIGINT in the calling thread (call it first in
/// `main`, before any thread starts, so every thread inherits the mask and
/// only `wait_for_stop_signal` sees them) and ignores SIGPIPE.
sigset_t block_stop_signals();

/// Waits for SIGTERM or SIGINT; returns its name.
std::string wait_for_stop_signal(const sigset_t& signals);

/// Loads the configuration (`file`, else TASKER_CONFIG_PATH, else
/// defaults; then the environment), sets the log level and logs the
/// warnings and where the configuration came from.
core::Result<config::LoadedConfig>
load_node_config(const std::optional<std::filesystem::path>& file,
                 std::string_view component);

/// Loads `config.template_path`, logging how many templates it holds.
core::Result<config::TemplateCatalog>
load_templates(const config::NodeConfig& config, std::string_view component);

/// A worker's handlers and plan (`worker::make_registry`,
/// `worker::plan_worker`), logging the namespaces served and every
/// template step no handler serves.
struct WorkerSetup {
  std::shared_ptr<worker::HandlerRegistry> registry;
  worker::WorkerPlan plan;
};
core::Result<WorkerSetup>
plan_worker_node(const config::NodeConfig& config,
                 const config::TemplateCatalog& catalog,
                 std::string_view component);

/// Logs `message` as an error and returns `code`.
int fail(std::string_view component, int code, const std::string& message);

} // namespace tasker::apps
