// Two orchestration instances on one PostgreSQL database (PGMQ and the task
// store side by side), each with its own connections, event system and
// shards, work the same tasks concurrently; workers play along from test
// threads. No step may be dispatched twice. And which results a shard
// decides without claiming them first.

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

TEST_CASE("an inline result is decided unclaimed only by the shard that "
          "remembers its task") {
  testing::ScratchDatabase database{"orch_inline"};
  auto loaded = config::TemplateCatalog::load(std::string{TASKER_SOURCE_DIR}
                                              + "/examples/templates");
  REQUIRE(loaded.ok());
  auto catalog = std::make_shared<const config::TemplateCatalog>(*loaded);
  auto queue_of = [&](const std::string& name) {
    for (const auto& tmpl : catalog->templates())
      if (tmpl.name == name)
        return tmpl.queue_name();
    FAIL("no template " << name);
    return std::string{};
  };
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
  // No event system: the test hands the processors what a notification
  // that carries the result would.
  TaskStoreHandle store{testing::connect_store(database.url())};
  messaging::MessagingProvider provider{connect_pgmq(database.url())};
  OrchestrationProcessorOptions options;
  options.shards = 1;
  auto deciding
      = sys.spawn<OrchestrationProcessor>(store, provider, catalog, options);
  auto creating
      = sys.spawn<OrchestrationProcessor>(store, provider, catalog, options);
  const std::string results_queue{config::kStepResultsQueue};
  // Another consumer, which holds the lease of every result sent.
  messaging::MessagingProvider other{connect_pgmq(database.url())};

  auto create = [&](const channels::orchestration_processor_actor& processor,
                    const std::string& ns, const std::string& name) {
    channels::TaskRequest request;
    request.namespace_name = ns;
    request.name = name;
    request.context_json = R"({"even_number":4})";
    std::string task_id;
    self->request(processor, 10s, channels::InitializeTask{request})
        .receive(
            [&](channels::TaskInitialized& done) {
              task_id = done.task_id;
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    return task_id;
  };
  // The first step's result, sent and leased by the other consumer, as its
  // notification carries it.
  auto held_result = [&](const std::string& step_queue) {
    auto steps = other.receive(step_queue, 1, 30s);
    REQUIRE(steps.ok());
    REQUIRE(steps->size() == 1);
    auto result = testing::succeed(nlohmann::json::parse(steps->at(0).payload));
    auto sent
        = other.send(results_queue, {channels::to_json_text(result), {}, {}});
    REQUIRE(sent.ok());
    auto held = other.read_by_id(results_queue, *sent, 30s);
    REQUIRE(held.ok());
    REQUIRE(held->has_value());
    auto inline_copy = **held;
    inline_copy.leased = false;
    return std::make_pair(inline_copy, result.step_id);
  };
  auto process = [&](const messaging::QueuedMessage& message) {
    channels::StepResultProcessed out;
    self->request(deciding, 10s,
                  channels::ProcessStepResultFromMessage{message})
        .receive(
            [&](channels::StepResultProcessed& done) {
              out = done;
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    return out;
  };
  auto step_state
      = [&](const std::string& task_id, const std::string& step_id) {
          auto task = store.load(task_id);
          REQUIRE(task.ok());
          const auto* step = task->step_by_id(step_id);
          REQUIRE(step != nullptr);
          return step->state;
        };

  SUBCASE("a task it created is decided while another consumer holds the "
          "result, and the write deletes the result") {
    auto task_id = create(deciding, "linear_workflow", "mathematical_sequence");
    auto [message, step_id] = held_result(queue_of("mathematical_sequence"));
    auto done = process(message);
    CHECK(done.applied);
    CHECK(done.task_id == task_id);
    CHECK(step_state(task_id, step_id) == StepState::complete);
    auto left = provider.metrics(results_queue);
    REQUIRE(left.ok());
    CHECK(left->depth == 0);
  }
  SUBCASE("other copies of a result it decided unclaimed are dropped, not "
          "decided again") {
    auto task_id = create(deciding, "linear_workflow", "mathematical_sequence");
    auto [message, step_id] = held_result(queue_of("mathematical_sequence"));
    auto leased_copy = message;
    leased_copy.leased = true;
    // The copies arrive together (the second waits while the first is
    // decided) and once more after it was written.
    auto first = self->request(deciding, 10s,
                               channels::ProcessStepResultFromMessage{message});
    auto second = self->request(
        deciding, 10s, channels::ProcessStepResultFromMessage{leased_copy});
    std::vector<bool> applied;
    for (auto* handle : {&first, &second})
      handle->receive(
          [&](channels::StepResultProcessed& done) {
            applied.push_back(done.applied);
          },
          [&](caf::error& err) {
            FAIL(caf::to_string(err));
          });
    CHECK(applied == std::vector<bool>{true, false});
    CHECK_FALSE(process(leased_copy).applied);
    CHECK(step_state(task_id, step_id) == StepState::complete);
    channels::ProcessingStats stats;
    self->request(deciding, 10s, channels::GetProcessingStats{})
        .receive(
            [&](channels::ProcessingStats& s) {
              stats = s;
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    CHECK(stats.step_results_processed == 1);
  }
  SUBCASE("a task it does not remember needs the claim, which the other "
          "consumer's lease refuses") {
    auto task_id = create(creating, "diamond_workflow", "diamond_pattern");
    auto [message, step_id] = held_result(queue_of("diamond_pattern"));
    auto done = process(message);
    CHECK_FALSE(done.applied);
    CHECK(step_state(task_id, step_id) != StepState::complete);
    auto left = provider.metrics(results_queue);
    REQUIRE(left.ok());
    CHECK(left->depth == 1);
  }
  self->send_exit(deciding, caf::exit_reason::user_shutdown);
  self->send_exit(creating, caf::exit_reason::user_shutdown);
}
