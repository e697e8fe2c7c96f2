#include "tests/integration/worker_suite.hpp"

#include <doctest/doctest.h>

#include <atomic>

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

TEST_CASE("on RabbitMQ a step's slot passes to the next step when its "
          "handler returns, while its result's send fails") {
  TempDir dir{"tasker_worker_slot"};
  auto ns = unique_name("ws");
  dir.write("worker_test.yaml", worker_test_template(ns));
  auto config = rabbitmq_config();
  config.template_path = dir.path().string();
  config.worker.max_concurrent_steps = 1;
  auto [registry, plan] = plan_worker_for(config);
  auto provider = messaging::MessagingProvider::from_config(
      worker::provider_config_for(config, plan));
  REQUIRE(provider.ok());
  REQUIRE(worker::prepare_queues(*provider, plan).ok());
  const std::string results_queue{config::kStepResultsQueue};
  auto queue = config::worker_queue_name(ns);

  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  std::atomic<int> handled{0};
  auto count = [&handled](const std::string&, bool, auto) {
    ++handled;
  };
  std::vector<channels::StepResult> results;
  {
    worker::WorkerNode node{sys, *provider, registry, plan, config, count};
    // Without the results queue every result's publish comes back
    // unroutable, and the step messages stay unacked.
    REQUIRE(provider->delete_queue(results_queue).ok());
    for (int i = 2; i <= 3; ++i) {
      auto step = worker_test_step(ns, ns + "-task-" + std::to_string(i),
                                   "tasker.square", {{"n", i}});
      REQUIRE(
          provider->send(queue, {channels::to_json_text(step), {}, {}}).ok());
    }
    // One slot, two handlers run: the second step came while the first was
    // unacked (the prefetch is twice the slots) and took the slot its
    // handler freed. Otherwise it waits for the first one's lease (30 s).
    CHECK(eventually(
        [&] {
          return handled.load() == 2;
        },
        5s));
    REQUIRE(provider->ensure_queues({results_queue}).ok());
    CHECK(node.shutdown(5s));
  }
  // Nothing lost: each step's result was sent (a retry after the queue
  // came back) or its message is back in the worker's queue.
  collect_results(*provider, ns, results);
  auto metrics = provider->metrics(queue);
  REQUIRE(metrics.ok());
  CHECK(static_cast<int64_t>(results.size()) + metrics->depth == 2);
  REQUIRE(provider->delete_queue(queue).ok());
}

TEST_CASE("a worker killed with SIGKILL mid-step loses nothing on RabbitMQ") {
  check_killed_worker_loses_nothing(rabbitmq_config(),
                                    {{"TASKER_MESSAGING_BACKEND", "rabbitmq"},
                                     {"RABBITMQ_URL", rabbitmq_url()}});
}

} // namespace
} // namespace tasker::testing
