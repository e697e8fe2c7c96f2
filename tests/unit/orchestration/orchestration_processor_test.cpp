// The orchestration processor behind a real event system, on the in-memory
// provider and store, on CAF's test coordinator: task requests arrive as
// queue messages, step messages leave through the outbox relay, the test
// plays the worker.

#include "actors/event_system.hpp"
#include "channels/actor_system_setup.hpp"
#include "channels/message_json.hpp"
#include "config/queue_names.hpp"
#include "config/template_catalog.hpp"
#include "messaging/in_memory/manual_clock.hpp"
#include "orchestration/orchestration_processor.hpp"
#include "orchestration/orchestration_sweeper.hpp"
#include "orchestration/task_factory.hpp"
#include "orchestration/task_shard.hpp"
#include "orchestration/workflow_planner.hpp"
#include "tests/support/received.hpp"
#include "tests/support/step_workers.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace tasker;
using namespace tasker::orchestration;

namespace {

const std::vector<std::string> kOrchestrationQueues
    = config::orchestration_queue_names();

struct Fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;
  std::shared_ptr<messaging::ManualClock> clock
      = std::make_shared<messaging::ManualClock>();
  messaging::MessagingProvider provider;
  InMemoryTaskStore memory;
  TaskStoreHandle store{memory};
  std::shared_ptr<config::TemplateCatalog> catalog;
  channels::orchestration_processor_actor processor;
  channels::event_system_actor events;
  channels::orchestration_sweeper_actor sweeper;

  Fixture()
      : sys{prepared(cfg)},
        sched{dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())},
        self{sys}, provider{
                       messaging::InMemoryProvider{provider_options(clock)}} {
    auto loaded = config::TemplateCatalog::load(std::string{TASKER_SOURCE_DIR}
                                                + "/examples/templates");
    REQUIRE(loaded.ok());
    catalog = std::make_shared<config::TemplateCatalog>(std::move(*loaded));
    REQUIRE(provider.ensure_queues(kOrchestrationQueues).ok());
    for (const auto& tmpl : catalog->templates())
      REQUIRE(provider.create_queue(tmpl.queue_name()).ok());
    auto now = [clock = clock] {
      return clock->now();
    };
    OrchestrationProcessorOptions options;
    options.shards = 3;
    options.shard.now = now;
    processor
        = sys.spawn<OrchestrationProcessor>(store, provider, catalog, options);
    OrchestrationSweeperOptions sweep;
    sweep.interval = std::chrono::seconds{1};
    sweep.timeout_grace = std::chrono::seconds{5};
    sweep.now = now;
    sweeper = sys.spawn<OrchestrationSweeper>(store, processor, sweep);
    actors::EventSystemOptions es;
    es.name = "orchestration";
    es.queues = kOrchestrationQueues;
    es.config.deployment_mode = config::DeploymentMode::event_driven_only;
    es.mode_key = "orchestration.event_system.deployment_mode";
    events = sys.spawn<actors::OrchestrationEventSystem>(
        provider, processor, &actors::route_orchestration, es);
    sched.run();
  }

  ~Fixture() {
    self->send_exit(events, caf::exit_reason::user_shutdown);
    self->send_exit(sweeper, caf::exit_reason::user_shutdown);
    self->send_exit(processor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  static caf::actor_system_config& prepared(caf::actor_system_config& cfg) {
    channels::configure_actor_system(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  static messaging::InMemoryOptions
  provider_options(std::shared_ptr<messaging::ManualClock> clock) {
    messaging::InMemoryOptions options;
    options.push_mode = messaging::InMemoryPushMode::leased_message;
    options.manual_clock = std::move(clock);
    return options;
  }

  void request_task(const std::string& ns, const std::string& name,
                    const nlohmann::json& context, const std::string& key) {
    channels::TaskRequest request{ns, name, "", context.dump(), key, 0, "test",
                                  "", "",   ""};
    auto sent = provider.send("orchestration_task_requests",
                              {channels::to_json_text(request), {}, {}});
    REQUIRE(sent.ok());
    sched.run();
  }

  // Moves the provider's clock, the store's decisions and the actors'
  // timers together.
  void advance(std::chrono::milliseconds by) {
    clock->advance(by);
    sched.advance_time(by);
    sched.run();
  }

  // Plays the worker: answers every step message waiting on `queue` with
  // `worker`; returns how many.
  int work(
      const std::string& queue,
      const std::function<channels::StepResult(const nlohmann::json&)>& worker
      = testing::succeed) {
    auto messages = provider.receive(queue, 1000, std::chrono::seconds{30});
    REQUIRE(messages.ok());
    for (const auto& message : *messages) {
      auto result = worker(nlohmann::json::parse(message.payload));
      REQUIRE(provider
                  .send("orchestration_step_results",
                        {channels::to_json_text(result), {}, {}})
                  .ok());
      REQUIRE(provider.ack(queue, message.id).ok());
    }
    sched.run();
    return static_cast<int>(messages->size());
  }

  channels::ProcessingStats stats() {
    auto handle = self->request(processor, caf::infinite,
                                channels::GetProcessingStats{});
    sched.run();
    return testing::received<channels::ProcessingStats>(handle);
  }
};

} // namespace

TEST_CASE("task requests become tasks whose steps run to completion") {
  Fixture f;
  f.request_task("diamond_workflow", "diamond_pattern", {{"even_number", 6}},
                 "one");
  auto page = f.store.list_tasks({});
  REQUIRE(page.ok());
  REQUIRE(page->tasks.size() == 1);
  const auto id = page->tasks[0].id;
  // The request was acked once the task existed.
  CHECK(f.provider.metrics("orchestration_task_requests")->depth == 0);
  int rounds = 0;
  while (f.work("worker_diamond_workflow_queue") > 0)
    ++rounds;
  CHECK(rounds == 3); // start, both branches, end
  auto done = f.store.load(id);
  REQUIRE(done.ok());
  CHECK(done->task.state == TaskState::complete);
  // Every result was acked, no step message is left behind.
  CHECK(f.provider.metrics("orchestration_step_results")->depth == 0);
  CHECK(f.store.take_outbox(10)->empty());
  auto stats = f.stats();
  CHECK(stats.tasks_initialized == 1);
  CHECK(stats.step_results_processed == 4);
  CHECK(stats.commands_failed == 0);
  CHECK(stats.tasks_complete == 1);
  CHECK(stats.tasks_error + stats.tasks_cancelled
            + stats.tasks_resolved_manually
        == 0);

  // The same request again: the same task, nothing new dispatched.
  f.request_task("diamond_workflow", "diamond_pattern", {{"even_number", 6}},
                 "one");
  CHECK(f.store.list_tasks({})->total == 1);
  CHECK(f.work("worker_diamond_workflow_queue") == 0);
}

TEST_CASE("a task is created by the shard its results go to, which decides "
          "them without reading it; the reply carries the started task") {
  Fixture f;
  channels::TaskRequest direct{"linear_workflow",
                               "mathematical_sequence",
                               "",
                               R"({"even_number":2})",
                               "direct",
                               0,
                               "test",
                               "",
                               "",
                               ""};
  auto handle = f.self->request(f.processor, caf::infinite,
                                channels::InitializeTask{direct});
  f.sched.run();
  auto initialized = testing::received<channels::TaskInitialized>(handle);
  CHECK(initialized.created);
  auto stored = f.store.load(initialized.task_id);
  REQUIRE(stored.ok());
  CHECK(stored->task.state == TaskState::steps_in_process);
  CHECK(nlohmann::json::parse(initialized.task_json)
        == nlohmann::json(*stored));
  // Requests through the queue too, spread over the three shards.
  for (int i = 0; i < 6; ++i)
    f.request_task("linear_workflow", "mathematical_sequence",
                   {{"even_number", 2}}, "queued-" + std::to_string(i));
  const auto reads = f.memory.loads();
  while (f.work("worker_linear_workflow_queue") > 0) {
  }
  CHECK(f.store.list_tasks({TaskState::complete, {}, {}, 10, 0})->total == 7);
  CHECK(f.memory.loads() == reads);

  // A duplicate request creates nothing and renders nothing.
  handle = f.self->request(f.processor, caf::infinite,
                           channels::InitializeTask{direct});
  f.sched.run();
  auto again = testing::received<channels::TaskInitialized>(handle);
  CHECK(again.task_id == initialized.task_id);
  CHECK_FALSE(again.created);
  CHECK(again.task_json.empty());
}

TEST_CASE("task requests that reach a shard together are created in one "
          "store call, and a request naming no template is answered at once") {
  Fixture f;
  TaskShardOptions options;
  options.now = [clock = f.clock] {
    return clock->now();
  };
  auto shard = f.sys.spawn<TaskShard>(f.store, f.provider, f.catalog,
                                      channels::orchestration_processor_actor{},
                                      channels::outbox_relay_actor{}, options);
  auto request = [](const std::string& name, int n) {
    return channels::TaskRequest{"linear_workflow",
                                 name,
                                 "",
                                 nlohmann::json{{"even_number", n}}.dump(),
                                 "",
                                 0,
                                 "test",
                                 "",
                                 "",
                                 ""};
  };
  std::vector<decltype(f.self->request(shard, caf::infinite,
                                       channels::InitializeTask{}))>
      handles;
  for (int n : {2, 4, 6})
    handles.push_back(f.self->request(
        shard, caf::infinite,
        channels::InitializeTask{request("mathematical_sequence", n)}));
  auto unknown = f.self->request(
      shard, caf::infinite, channels::InitializeTask{request("no_such", 2)});
  f.sched.run();
  auto stats_handle
      = f.self->request(shard, caf::infinite, channels::GetProcessingStats{});
  f.sched.run();
  auto stats = testing::received<channels::ProcessingStats>(stats_handle);
  CHECK(stats.creation_batches == 1);
  CHECK(stats.tasks_initialized == 3);
  std::set<std::string> ids;
  for (auto& handle : handles) {
    auto initialized = testing::received<channels::TaskInitialized>(handle);
    CHECK(initialized.created);
    CHECK_FALSE(initialized.task_json.empty());
    auto stored = f.store.load(initialized.task_id);
    REQUIRE(stored.ok());
    CHECK(stored->task.state == TaskState::steps_in_process);
    ids.insert(initialized.task_id);
  }
  CHECK(ids.size() == 3);
  unknown.receive(
      [](channels::TaskInitialized&) {
        FAIL("a request naming no template was answered with a task");
      },
      [](caf::error& err) {
        CHECK(caf::to_string(err).find("no template") != std::string::npos);
      });
  f.self->send_exit(shard, caf::exit_reason::user_shutdown);
  f.sched.run();
}

TEST_CASE("a request for a task found created but never started (its node "
          "stopped in between) starts it") {
  Fixture f;
  const auto* tmpl
      = f.catalog->find("linear_workflow", "mathematical_sequence", {});
  REQUIRE(tmpl != nullptr);
  TaskOptions options;
  options.idempotency_key = "stranded";
  auto new_task = make_new_task(*tmpl, {{"even_number", 2}}, options);
  REQUIRE(new_task.ok());
  auto stranded = f.store.create_task(*new_task);
  REQUIRE(stranded.ok());
  REQUIRE(stranded->snapshot.task.state == TaskState::pending);

  f.request_task("linear_workflow", "mathematical_sequence",
                 {{"even_number", 2}}, "stranded");
  CHECK(f.store.list_tasks({})->total == 1);
  auto started = f.store.load(stranded->snapshot.task.id);
  REQUIRE(started.ok());
  CHECK(started->task.state == TaskState::steps_in_process);
  CHECK(f.stats().tasks_initialized == 0);
  while (f.work("worker_linear_workflow_queue") > 0) {
  }
  const auto& id = stranded->snapshot.task.id;
  CHECK(f.store.load(id)->task.state == TaskState::complete);
  // A task that was started is left alone by a later duplicate.
  const auto events = f.store.history(id)->size();
  f.request_task("linear_workflow", "mathematical_sequence",
                 {{"even_number", 2}}, "stranded");
  CHECK(f.work("worker_linear_workflow_queue") == 0);
  CHECK(f.store.history(id)->size() == events);
}

TEST_CASE("a burst of results is decided in batches, tasks in parallel") {
  Fixture f;
  for (int i = 0; i < 30; ++i)
    f.request_task("tree_workflow", "hierarchical_tree", {{"even_number", 4}},
                   "tree-" + std::to_string(i));
  while (f.work("worker_tree_workflow_queue") > 0) {
  }
  auto page = f.store.list_tasks({TaskState::complete, {}, {}, 100, 0});
  REQUIRE(page.ok());
  CHECK(page->total == 30);
  auto stats = f.stats();
  CHECK(stats.step_results_processed == 30 * 8);
  // Results of one round arrive together: far fewer batches than results.
  CHECK(stats.result_batches < stats.step_results_processed / 4);
}

TEST_CASE("a request that cannot become a task is dead-lettered, named") {
  Fixture f;
  f.request_task("diamond_workflow", "no_such_template", {}, "x");
  f.request_task("diamond_workflow", "diamond_pattern",
                 {{"even_number", "six"}}, "y");
  CHECK(f.store.list_tasks({})->total == 0);
  auto dead = f.provider.receive("orchestration_task_requests_dlq", 10,
                                 std::chrono::seconds{30});
  REQUIRE(dead.ok());
  CHECK(dead->size() == 2);
  CHECK(f.provider.metrics("orchestration_task_requests")->depth == 0);
}

TEST_CASE("a duplicate result changes nothing and is acked") {
  Fixture f;
  f.request_task("linear_workflow", "mathematical_sequence",
                 {{"even_number", 2}}, "dup");
  auto messages = f.provider.receive("worker_linear_workflow_queue", 10,
                                     std::chrono::seconds{30});
  REQUIRE(messages.ok());
  REQUIRE(messages->size() == 1);
  auto result
      = testing::succeed(nlohmann::json::parse(messages->front().payload));
  REQUIRE(f.provider.ack("worker_linear_workflow_queue", messages->front().id)
              .ok());
  for (int i = 0; i < 2; ++i)
    REQUIRE(f.provider
                .send("orchestration_step_results",
                      {channels::to_json_text(result), {}, {}})
                .ok());
  f.sched.run();
  CHECK(f.provider.metrics("orchestration_step_results")->depth == 0);
  auto id = f.store.list_tasks({})->tasks.at(0).id;
  auto snapshot = f.store.load(id);
  CHECK(snapshot->steps.at(0).state == StepState::complete);
  CHECK(snapshot->steps.at(1).state == StepState::enqueued);
  CHECK(snapshot->steps.at(1).attempts == 1);
  // One next step message, not two.
  CHECK(f.provider.metrics("worker_linear_workflow_queue")->depth == 1);
}

TEST_CASE("a result is decided on the stored task when the task moved on "
          "behind the shard's back") {
  using namespace std::chrono_literals;
  Fixture f;
  f.request_task("linear_workflow", "mathematical_sequence",
                 {{"even_number", 2}}, "behind");
  const auto id = f.store.list_tasks({})->tasks.at(0).id;
  const std::string queue = "worker_linear_workflow_queue";
  auto first = f.provider.receive(queue, 10, 300s);
  REQUIRE(first->size() == 1);
  // Another node fails attempt 1 and dispatches attempt 2: the shard still
  // remembers the step at attempt 1.
  PlanContext ctx{f.clock->now(), "other-node", 0.0};
  auto failed = testing::succeed(nlohmann::json::parse(first->front().payload));
  failed.success = false;
  failed.retryable = true;
  failed.error_message = "try again";
  auto retry = plan_step_result(*f.store.load(id), failed, ctx);
  REQUIRE(retry.ok());
  REQUIRE(f.store.apply(*retry).ok());
  ctx.now += 60s;
  ChangeSet dispatch;
  dispatch.task_id = id;
  auto stored = f.store.load(id);
  dispatch.expected_revision = stored->task.revision;
  REQUIRE(plan_progress(*stored, dispatch, ctx).ok());
  auto redispatched = f.store.apply(dispatch);
  REQUIRE(redispatched.ok());
  REQUIRE(redispatched->steps.at(0).attempts == 2);
  REQUIRE(f.provider.ack(queue, first->front().id).ok());
  // That node's relay sends the attempt.
  auto outbox = f.store.take_outbox(10);
  REQUIRE(outbox->size() == 1);
  REQUIRE(f.provider
              .send(outbox->front().outbound.queue,
                    outbox->front().outbound.message)
              .ok());
  REQUIRE(f.store.remove_outbox({outbox->front().id}).ok());

  CHECK(f.work(queue) == 1); // attempt 2 succeeds
  auto after = f.store.load(id);
  CHECK(after->steps.at(0).state == StepState::complete);
  CHECK(after->steps.at(1).state == StepState::enqueued);
}

TEST_CASE("the sweeper dispatches due retries and times out lost steps") {
  using namespace std::chrono_literals;
  Fixture f;
  f.request_task("diamond_workflow", "diamond_pattern", {{"even_number", 6}},
                 "sweep");
  const auto id = f.store.list_tasks({})->tasks.at(0).id;
  const std::string queue = "worker_diamond_workflow_queue";
  // The start step's worker dies with it: 30 s timeout plus 5 s grace.
  auto lost = f.provider.receive(queue, 10, std::chrono::seconds{300});
  REQUIRE(lost->size() == 1);
  f.advance(34s);
  CHECK(f.store.load(id)->steps.at(0).state == StepState::enqueued);
  f.advance(1s);
  auto timed_out = f.store.load(id)->steps.at(0);
  CHECK(timed_out.state == StepState::waiting_for_retry);
  CHECK(timed_out.last_error.at("kind") == "timeout");
  // Its retry (1 s backoff) is dispatched by the next sweep.
  f.advance(1s);
  CHECK(f.store.load(id)->steps.at(0).attempts == 2);
  // A branch fails once, retryable; its retry is due 1 s later.
  bool failed_once = false;
  auto flaky = [&](const nlohmann::json& message) {
    auto result = testing::succeed(message);
    if (message.at("step_name") == "diamond_branch_left" && !failed_once) {
      failed_once = true;
      result.success = false;
      result.error_message = "try again";
      result.retryable = true;
    }
    return result;
  };
  CHECK(f.work(queue, flaky) == 1);
  CHECK(f.work(queue, flaky) == 2);
  CHECK(f.work(queue, flaky) == 0);
  f.advance(1s);
  while (f.work(queue, flaky) > 0) {
  }
  auto done = f.store.load(id);
  CHECK(done->task.state == TaskState::complete);
  CHECK(done->find_step("diamond_branch_left")->attempts == 2);
}

TEST_CASE("an operator cancels a task and acts on its steps through the "
          "processor") {
  Fixture f;
  auto ask = [&](auto command) {
    auto handle = f.self->request(f.processor, caf::infinite, command);
    f.sched.run();
    caf::expected<channels::TaskFinalized> out{caf::sec::bad_function_call};
    handle.receive(
        [&](channels::TaskFinalized& reply) {
          out = reply;
        },
        [&](caf::error& err) {
          out = err;
        });
    return out;
  };
  f.request_task("diamond_workflow", "diamond_pattern", {{"even_number", 6}},
                 "ops-a");
  f.request_task("linear_workflow", "mathematical_sequence",
                 {{"even_number", 2}}, "ops-b");
  auto page = f.store.list_tasks({});
  REQUIRE(page->tasks.size() == 2);
  std::string diamond, linear;
  for (const auto& task : page->tasks)
    (task.namespace_name == "diamond_workflow" ? diamond : linear) = task.id;

  // The first step of the linear task is completed by hand: the next one
  // is dispatched.
  auto completed = ask(channels::ApplyStepAction{
      linear, "linear_step_1", "complete_manually", R"({"value": 4})"});
  REQUIRE(completed);
  CHECK(completed->task_id == linear);
  auto after = f.store.load(linear);
  CHECK(after->find_step("linear_step_1")->state == StepState::complete);
  CHECK(after->find_step("linear_step_2")->state == StepState::enqueued);

  auto unknown
      = ask(channels::ApplyStepAction{linear, "linear_step_2", "skip", ""});
  REQUIRE_FALSE(unknown);
  CHECK(channels::from_caf_error(unknown.error())
            .message()
            .find("unknown step action 'skip'")
        != std::string::npos);

  auto cancelled = ask(channels::CancelTask{diamond, "no longer needed"});
  REQUIRE(cancelled);
  CHECK(cancelled->final_status == "cancelled");
  CHECK(f.store.load(diamond)->task.state == TaskState::cancelled);
  // Counted once, at the write that cancelled it: a second cancel fails.
  CHECK_FALSE(ask(channels::CancelTask{diamond, "again"}));
  CHECK(f.stats().tasks_cancelled == 1);
  CHECK(f.stats().tasks_complete == 0);
  auto missing = ask(channels::CancelTask{"no-such-task", ""});
  REQUIRE_FALSE(missing);
  CHECK(channels::from_caf_error(missing.error()).code()
        == core::ErrorCode::not_found);
}
