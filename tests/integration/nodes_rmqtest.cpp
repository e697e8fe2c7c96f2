#include "tests/integration/nodes_suite.hpp"

namespace tasker::testing {
namespace {

TEST_CASE("a server and two workers complete every example on RabbitMQ "
          "through the REST API, across a killed worker and a restarted "
          "server") {
  ScratchDatabase db{"nodes_rmq"}; // the task store
  check_nodes_complete_the_examples({{"TASKER_MESSAGING_BACKEND", "rabbitmq"},
                                     {"RABBITMQ_URL", rabbitmq_url()},
                                     {"DATABASE_URL", db.url()}});
}

} // namespace
} // namespace tasker::testing
