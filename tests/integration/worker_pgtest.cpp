#include "tests/integration/orchestration_instance.hpp"
#include "tests/integration/pg_admin.hpp"
#include "tests/integration/worker_suite.hpp"

#include <doctest/doctest.h>

namespace tasker::testing {
namespace {

int64_t power(int64_t n, int exponent) {
  int64_t out = 1;
  for (int i = 0; i < exponent; ++i)
    out *= n;
  return out;
}

config::NodeConfig pgmq_config(const std::string& url) {
  config::NodeConfig config;
  config.messaging_backend = config::MessagingBackend::pgmq;
  config.database.url = url;
  config.database.pool_size = 4;
  return config;
}

TEST_CASE("a worker bootstraps from templates and executes steps on PGMQ") {
  ScratchDatabase db{"worker"};
  check_worker_executes_steps(pgmq_config(db.url()));
}

TEST_CASE("on PGMQ a step's slot passes to the next step when its handler "
          "returns, while its result's send waits") {
  ScratchDatabase db{"worker_slot"};
  TempDir dir{"tasker_worker_slot"};
  auto ns = unique_name("ws");
  dir.write("worker_test.yaml", worker_test_template(ns));
  auto config = pgmq_config(db.url());
  config.template_path = dir.path().string();
  config.worker.max_concurrent_steps = 1;
  config.worker.event_system.fallback_polling_interval_ms = 200;
  auto [registry, plan] = plan_worker_for(config);
  auto provider = messaging::MessagingProvider::from_config(
      worker::provider_config_for(config, plan));
  REQUIRE(provider.ok());
  REQUIRE(worker::prepare_queues(*provider, plan).ok());
  REQUIRE(
      provider->ensure_queues({std::string{config::kStepResultsQueue}}).ok());
  auto queue = config::worker_queue_name(ns);
  for (int i = 2; i <= 3; ++i) {
    auto step = worker_test_step(ns, ns + "-task-" + std::to_string(i),
                                 "tasker.square", {{"n", i}});
    REQUIRE(provider->send(queue, {channels::to_json_text(step), {}, {}}).ok());
  }
  // Results cannot be written while this transaction holds the lock.
  pqxx::connection holder{db.url()};
  pqxx::work lock{holder};
  lock.exec0("LOCK TABLE pgmq.q_" + std::string{config::kStepResultsQueue}
             + " IN EXCLUSIVE MODE");
  pqxx::connection observer{db.url()};
  auto count = [&](const std::string& sql) {
    pqxx::nontransaction tx{observer};
    return tx.exec1(sql)[0].as<int>();
  };

  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  std::vector<channels::StepResult> results;
  {
    worker::WorkerNode node{sys, *provider, registry, plan, config};
    // One slot, two steps: the second is taken on while the first's result
    // waits for the lock.
    CHECK(eventually([&] {
      return count("SELECT count(*) FROM pgmq.q_" + queue
                   + " WHERE read_ct > 0")
             == 2;
    }));
    // Reading is all the lock lets through.
    CHECK(count("SELECT count(*) FROM pgmq.q_"
                + std::string{config::kStepResultsQueue})
          == 0);
    lock.commit();
    CHECK(eventually([&] {
      collect_results(*provider, ns, results);
      return results.size() >= 2;
    }));
    CHECK(node.shutdown(5s));
  }
  REQUIRE(results.size() == 2);
  std::set<std::string> tasks;
  for (const auto& result : results)
    tasks.insert(result.task_id);
  CHECK(tasks.size() == 2);
  auto metrics = provider->metrics(queue);
  REQUIRE(metrics.ok());
  CHECK(metrics->depth == 0);
}

TEST_CASE("a worker killed with SIGKILL mid-step loses nothing on PGMQ") {
  ScratchDatabase db{"worker_kill"};
  check_killed_worker_loses_nothing(
      pgmq_config(db.url()),
      {{"TASKER_MESSAGING_BACKEND", "pgmq"}, {"DATABASE_URL", db.url()}});
}

TEST_CASE("orchestration and a worker node complete the example workflows "
          "with the built-in handlers on PGMQ") {
  ScratchDatabase db{"worker_flows"};
  auto config = pgmq_config(db.url());
  config.template_path = std::string{TASKER_SOURCE_DIR} + "/examples/templates";
  config.worker.event_system.fallback_polling_interval_ms = 200;
  auto loaded = config::TemplateCatalog::load(config.template_path);
  REQUIRE(loaded.ok());
  auto catalog = std::make_shared<const config::TemplateCatalog>(*loaded);
  auto [registry, plan] = plan_worker_for(config);
  CHECK(plan.unserved_steps.empty());
  auto provider = messaging::MessagingProvider::from_config(config);
  REQUIRE(provider.ok());
  REQUIRE(provider->ensure_queues(kOrchestrationQueues).ok());
  REQUIRE(worker::prepare_queues(*provider, plan).ok());

  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  Instance orchestration{sys, db.url(), catalog, "orchestrator"};
  worker::WorkerNode node{sys, *provider, registry, plan, config};

  // n = 2..6 for each example; the final step's value follows from n.
  struct Expected {
    std::string ns, name, last_step;
    int64_t (*value)(int64_t);
  };
  const std::vector<Expected> examples{
      {"linear_workflow", "mathematical_sequence", "linear_step_4",
       [](int64_t n) {
         return power(n, 16);
       }},
      {"diamond_workflow", "diamond_pattern", "diamond_end",
       [](int64_t n) {
         return power(n, 8);
       }},
      {"mixed_dag_workflow", "complex_dag", "finalize",
       [](int64_t n) {
         return 3 * power(n, 8);
       }},
      {"tree_workflow", "hierarchical_tree", "tree_final_convergence",
       [](int64_t n) {
         return 4 * power(n, 8);
       }}};
  for (const auto& example : examples)
    for (int64_t n = 2; n <= 6; ++n) {
      channels::TaskRequest request{example.ns,
                                    example.name,
                                    "",
                                    nlohmann::json{{"even_number", n}}.dump(),
                                    example.ns + std::to_string(n),
                                    0,
                                    "test",
                                    "",
                                    "",
                                    ""};
      REQUIRE(provider
                  ->send("orchestration_task_requests",
                         {channels::to_json_text(request), {}, {}})
                  .ok());
    }
  auto completed = [&] {
    TaskQuery query;
    query.state = TaskState::complete;
    query.limit = 100;
    auto page = orchestration.store.list_tasks(query);
    return page.ok() && page->total == 20;
  };
  // Well under the 30 s lease: a message left waiting for its lease to end
  // (a claim race once did that) fails the test.
  REQUIRE_MESSAGE(eventually(completed, 20s), "not every task completed");
  TaskQuery query;
  query.limit = 100;
  auto page = orchestration.store.list_tasks(query);
  REQUIRE(page.ok());
  for (const auto& task : page->tasks) {
    auto snapshot = orchestration.store.load(task.id);
    REQUIRE(snapshot.ok());
    auto n = snapshot->task.context.at("even_number").get<int64_t>();
    for (const auto& example : examples)
      if (example.ns == snapshot->task.namespace_name) {
        auto last = snapshot->find_step(example.last_step);
        REQUIRE(last != nullptr);
        CHECK(last->results == nlohmann::json{{"value", example.value(n)}});
      }
  }
  CHECK(node.shutdown(5s));
  orchestration.stop(self);
}

} // namespace
} // namespace tasker::testing
