#pragma once

#include "apps/tasker_ctl/cli_args.hpp"
#include "config/node_config.hpp"

/// The commands of `tasker-ctl` that talk to a running orchestration node
/// through its REST API (`task`, `dlq`, `health`) or to the messaging
/// provider (`queue`). Each returns the process's exit code: 0 success, 1
/// the node refused or the check failed, 2 usage, 3 unreachable.
namespace tasker::apps {

int task_command(const CliArgs& args, const config::NodeConfig& config);
int dlq_command(const CliArgs& args, const config::NodeConfig& config);
int health_command(const CliArgs& args, const config::NodeConfig& config);
int queue_command(const CliArgs& args, const config::NodeConfig& config);

} // namespace tasker::apps
