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

// A virtual host of their own: the examples' queues exist as quorum queues
// in the default one.
TEST_CASE("the same on RabbitMQ classic queues, the killed worker's steps "
          "counted as redelivered") {
  ScratchDatabase db{"nodes_rmq_classic"};
  auto vhost = unique_name("nodes_classic");
  REQUIRE(rabbitmqctl("add_vhost " + vhost) == 0);
  struct VhostGuard {
    std::string name;
    ~VhostGuard() {
      (void)rabbitmqctl("delete_vhost " + name);
    }
  } guard{vhost};
  REQUIRE(rabbitmqctl("set_permissions -p " + vhost + " guest '.*' '.*' '.*'")
          == 0);
  auto url = rabbitmq_url();
  url = url.substr(0, url.rfind('/') + 1) + vhost;
  check_nodes_complete_the_examples({{"TASKER_MESSAGING_BACKEND", "rabbitmq"},
                                     {"RABBITMQ_URL", url},
                                     {"TASKER_RABBITMQ_QUEUE_TYPE", "classic"},
                                     {"DATABASE_URL", db.url()}});
}

} // namespace
} // namespace tasker::testing
