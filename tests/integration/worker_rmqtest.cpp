#include "tests/integration/worker_suite.hpp"

#include <doctest/doctest.h>

namespace tasker::testing {
namespace {

config::NodeConfig rabbitmq_config() {
  config::NodeConfig config;
  config.messaging_backend = config::MessagingBackend::rabbitmq;
  config.rabbitmq.url = rabbitmq_url();
  return config;
}

TEST_CASE("a worker bootstraps from templates and executes steps on "
          "RabbitMQ") {
  check_worker_executes_steps(rabbitmq_config());
}

TEST_CASE("a worker killed with SIGKILL mid-step loses nothing on RabbitMQ") {
  check_killed_worker_loses_nothing(rabbitmq_config(),
                                    {{"TASKER_MESSAGING_BACKEND", "rabbitmq"},
                                     {"RABBITMQ_URL", rabbitmq_url()}});
}

} // namespace
} // namespace tasker::testing
