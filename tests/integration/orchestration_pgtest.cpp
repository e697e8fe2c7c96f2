// Two orchestration instances on one PostgreSQL database (PGMQ and the task
// store side by side), each with its own connections, event system and
// shards, work the same tasks concurrently; workers play along from test
// threads. No step may be dispatched twice.

#include <doctest/doctest.h>

#include "actors/event_system.hpp"
#include "channels/actor_system_setup.hpp"
#include "channels/message_json.hpp"
#include "config/queue_names.hpp"
#include "config/template_catalog.hpp"
#include "messaging/pgmq/pgmq_provider.hpp"
#include "orchestration/orchestration_processor.hpp"
#include "orchestration/orchestration_sweeper.hpp"
#include "orchestration/pg_task_store.hpp"
#include "tests/integration/orchestration_instance.hpp"
#include "tests/integration/pg_admin.hpp"
#include "tests/integration/test_servers.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/step_workers.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tasker;
using tasker::testing::eventually;
using namespace tasker::orchestration;
using tasker::testing::connect_pgmq;
using tasker::testing::Instance;
using tasker::testing::kOrchestrationQueues;

TEST_CASE("two orchestration instances never dispatch a step twice") {
  testing::ScratchDatabase database{"orch2"};
  auto loaded = config::TemplateCatalog::load(std::string{TASKER_SOURCE_DIR}
                                              + "/examples/templates");
  REQUIRE(loaded.ok());
  auto catalog = std::make_shared<const config::TemplateCatalog>(*loaded);
  {
    auto setup = connect_pgmq(database.url());
    REQUIRE(setup.ensure_queues(kOrchestrationQueues).ok());
    for (const auto& tmpl : catalog->templates())
      REQUIRE(setup.create_queue(tmpl.queue_name()).ok());
  }
  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  Instance first{sys, database.url(), catalog, "orchestrator-1"};
  Instance second{sys, database.url(), catalog, "orchestrator-2"};

  // Workers: two threads per namespace queue, each dispatch counted.
  auto worker_provider
      = messaging::MessagingProvider{connect_pgmq(database.url())};
  std::mutex mutex;
  std::map<std::pair<std::string, int>, int> dispatches;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (const auto& tmpl : catalog->templates()) {
    for (int i = 0; i < 2; ++i) {
      workers.emplace_back([&, queue = tmpl.queue_name()] {
        while (!stop) {
          auto messages = worker_provider.receive(queue, 20, 30s);
          if (!messages || messages->empty()) {
            std::this_thread::sleep_for(10ms);
            continue;
          }
          for (const auto& message : *messages) {
            auto payload = nlohmann::json::parse(message.payload);
            {
              std::lock_guard<std::mutex> guard{mutex};
              ++dispatches[{payload.at("step_id").get<std::string>(),
                            payload.at("attempt").get<int>()}];
            }
            auto result = testing::succeed(payload);
            REQUIRE(worker_provider
                        .send("orchestration_step_results",
                              {channels::to_json_text(result), {}, {}})
                        .ok());
            REQUIRE(worker_provider.ack(queue, message.id).ok());
          }
        }
      });
    }
  }

  // 40 tasks of each example, requested through the queue.
  const std::vector<std::pair<std::string, std::string>> examples{
      {"linear_workflow", "mathematical_sequence"},
      {"diamond_workflow", "diamond_pattern"},
      {"mixed_dag_workflow", "complex_dag"},
      {"tree_workflow", "hierarchical_tree"}};
  const int per_example = 40;
  int expected_steps = 0;
  for (const auto& [ns, name] : examples) {
    for (int i = 0; i < per_example; ++i) {
      channels::TaskRequest request{ns,
                                    name,
                                    "",
                                    R"({"even_number":4})",
                                    ns + std::to_string(i),
                                    0,
                                    "test",
                                    "",
                                    "",
                                    ""};
      REQUIRE(worker_provider
                  .send("orchestration_task_requests",
                        {channels::to_json_text(request), {}, {}})
                  .ok());
    }
    for (const auto& tmpl : catalog->templates())
      if (tmpl.name == name)
        expected_steps += per_example * static_cast<int>(tmpl.steps.size());
  }
  const int expected_tasks = per_example * static_cast<int>(examples.size());
  auto completed = [&] {
    TaskQuery query;
    query.state = TaskState::complete;
    query.limit = 1;
    auto page = first.store.list_tasks(query);
    return page.ok() && page->total == expected_tasks;
  };
  bool done = eventually(completed, 120s);
  stop = true;
  for (auto& worker : workers)
    worker.join();
  CHECK_MESSAGE(done, "not every task completed in time");

  std::lock_guard<std::mutex> guard{mutex};
  CHECK(static_cast<int>(dispatches.size()) == expected_steps);
  int twice = 0;
  for (const auto& [key, count] : dispatches)
    if (count != 1)
      ++twice;
  CHECK_MESSAGE(twice == 0, twice << " step attempts were dispatched twice");
  // Both instances did part of the work.
  auto stats_of = [&](Instance& instance) {
    channels::ProcessingStats out;
    self->request(instance.processor, 10s, channels::GetProcessingStats{})
        .receive(
            [&](channels::ProcessingStats& s) {
              out = s;
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    return out;
  };
  auto a = stats_of(first);
  auto b = stats_of(second);
  MESSAGE("instance 1: " << a.tasks_initialized << " tasks, "
                         << a.step_results_processed << " results in "
                         << a.result_batches
                         << " batches; instance 2: " << b.tasks_initialized
                         << " tasks, " << b.step_results_processed
                         << " results in " << b.result_batches << " batches");
  CHECK(a.tasks_initialized + b.tasks_initialized == expected_tasks);
  CHECK(a.step_results_processed > 0);
  CHECK(b.step_results_processed > 0);
  first.stop(self);
  second.stop(self);
}
