#include "actors/event_system.hpp"
#include "actors/routed_command.hpp"
#include "channels/actor_system_setup.hpp"
#include "channels/message_json.hpp"
#include "messaging/in_memory/in_memory_provider.hpp"
#include "messaging/in_memory/manual_clock.hpp"
#include "tests/support/received.hpp"
#include "worker/builtin_handlers.hpp"
#include "worker/worker_processor.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tasker;
using namespace tasker::worker;
using nlohmann::json;

namespace {

const std::string kQueue = "worker_billing_queue";
const std::string kOtherQueue = "worker_reports_queue";
const std::string kResults = "orchestration_step_results";

channels::StepMessage step(std::string callable, int n = 1) {
  channels::StepMessage s;
  s.task_id = "task-" + std::to_string(n);
  s.step_id = "step-" + std::to_string(n);
  s.step_name = "charge";
  s.namespace_name = "billing";
  s.task_name = "invoice";
  s.task_version = "1.0.0";
  s.attempt = 1;
  s.callable = std::move(callable);
  s.context = json{{"amount", 7}};
  s.initialization = json{{"input_key", "amount"}};
  return s;
}

// A worker processor on the test coordinator over the in-memory provider
// (manual clock). Handler threads are played by `jobs`, which the test runs
// when it chooses, so "a handler is running" is "its job waits here".
struct Fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;
  std::shared_ptr<messaging::ManualClock> clock;
  messaging::MessagingProvider provider;
  std::shared_ptr<HandlerRegistry> registry;
  std::deque<std::function<void()>> jobs;
  /// Lease extensions and reported timeouts: run at once unless a test
  /// holds them back to run them by hand.
  bool hold_upkeep = false;
  std::deque<std::function<void()>> upkeep;
  WorkerProcessorOptions options;
  channels::worker_processor_actor processor;

  explicit Fixture(messaging::InMemoryPushMode mode
                   = messaging::InMemoryPushMode::leased_message)
      : sys{prepared(cfg)},
        sched{dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())},
        self{sys}, clock{std::make_shared<messaging::ManualClock>()},
        provider{messaging::InMemoryProvider{provider_options(clock, mode)}},
        registry{std::make_shared<HandlerRegistry>()} {
    for (const auto& queue : {kQueue, kOtherQueue, kResults})
      REQUIRE(provider.create_queue(queue).ok());
    add_builtin_handlers(*registry);
    REQUIRE(registry
                ->add("test.throw",
                      [](const StepInput&) -> StepOutcome {
                        throw std::runtime_error("card declined");
                      })
                .ok());
    REQUIRE(registry
                ->add("test.hint",
                      [](const StepInput&) {
                        return StepOutcome::failed("rate limited", true,
                                                   1500ms);
                      })
                .ok());
    options.worker_id = "unit-worker";
    options.concurrency = {{"billing", 3}, {"reports", 3}};
    options.lease = 30s;
    options.heartbeat = 10s;
    options.results.attempts = 1;
  }

  ~Fixture() {
    if (processor)
      self->send_exit(processor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  static caf::actor_system_config& prepared(caf::actor_system_config& c) {
    channels::configure_actor_system(c);
    c.set("scheduler.policy", caf::atom("testing"));
    return c;
  }

  static messaging::InMemoryOptions
  provider_options(std::shared_ptr<messaging::ManualClock> clock,
                   messaging::InMemoryPushMode mode) {
    messaging::InMemoryOptions o;
    o.manual_clock = std::move(clock);
    o.push_mode = mode;
    return o;
  }

  void start() {
    processor = sys.spawn<WorkerProcessor>(
        provider, registry,
        [this](std::function<void()> job) {
          jobs.push_back(std::move(job));
        },
        [this](std::function<void()> job) {
          if (hold_upkeep)
            upkeep.push_back(std::move(job));
          else
            job();
        },
        options);
    sched.run();
  }

  int64_t send(const std::string& queue, const std::string& payload) {
    auto id = provider.send(queue, {payload, {}, {}});
    REQUIRE(id.ok());
    return *id;
  }

  // Reads the next message of `queue` as a consumer would (leased).
  messaging::QueuedMessage take(const std::string& queue) {
    auto got = provider.receive(queue, 1, 30s);
    REQUIRE(got.ok());
    REQUIRE(got->size() == 1);
    return got->front();
  }

  // Runs the actors and every job (and the jobs they cause).
  void drain() {
    sched.run();
    while (!jobs.empty()) {
      auto job = std::move(jobs.front());
      jobs.pop_front();
      job();
      sched.run();
    }
  }

  // Runs only what is already there: the actors, then the waiting jobs.
  void run_jobs(std::size_t n) {
    sched.run();
    for (std::size_t i = 0; i < n && !jobs.empty(); ++i) {
      auto job = std::move(jobs.front());
      jobs.pop_front();
      job();
      sched.run();
    }
  }

  std::vector<channels::StepResult> results() {
    auto got = provider.receive(kResults, 1000, 30s);
    REQUIRE(got.ok());
    std::vector<channels::StepResult> out;
    for (const auto& message : *got) {
      auto result = channels::step_result_from_json(message.payload);
      REQUIRE(result.ok());
      out.push_back(*result);
    }
    return out;
  }

  int64_t visible(const std::string& queue) {
    auto metrics = provider.metrics(queue);
    REQUIRE(metrics.ok());
    return metrics->visible_depth;
  }

  channels::WorkerStatus status() {
    auto handle
        = self->request(processor, caf::infinite, channels::GetWorkerStatus{});
    sched.run();
    return testing::received<channels::WorkerStatus>(handle);
  }

  // Has the processor take on a `tasker.square` step with this timeout;
  // its handler's job waits in `jobs` (the handler "runs").
  auto take_on_step(int64_t timeout_seconds) {
    auto s = step("tasker.square");
    s.timeout_seconds = timeout_seconds;
    send(kQueue, channels::to_json_text(s));
    auto handle = self->request(processor, caf::infinite,
                                channels::ExecuteStepFromMessage{take(kQueue)});
    sched.run();
    REQUIRE(jobs.size() == 1);
    return handle;
  }

  channels::StepExecuted execute(messaging::QueuedMessage message) {
    auto handle = self->request(processor, caf::infinite,
                                channels::ExecuteStepFromMessage{message});
    drain();
    return testing::received<channels::StepExecuted>(handle);
  }
};

TEST_CASE_FIXTURE(Fixture, "a worker runs the step's handler, sends the "
                           "result, then acks the step message") {
  start();
  send(kQueue, channels::to_json_text(step("tasker.square")));
  auto reply = execute(take(kQueue));
  CHECK(reply == channels::StepExecuted{"task-1", "step-1", true, true});
  auto sent = results();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].task_id == "task-1");
  CHECK(sent[0].step_id == "step-1");
  CHECK(sent[0].attempt == 1);
  CHECK(sent[0].success);
  CHECK(json::parse(sent[0].result_json) == json{{"value", 49}});
  CHECK(sent[0].worker_id == "unit-worker");
  CHECK(sent[0].completed_at_us >= sent[0].started_at_us);
  // Acked: gone for good, not merely leased.
  clock->advance(60s);
  CHECK(provider.receive(kQueue, 10, 30s)->empty());
  auto now = status();
  CHECK(now.steps_received == 1);
  CHECK(now.steps_claimed == 1);
  CHECK(now.steps_succeeded == 1);
  CHECK(now.active_steps == 0);
}

TEST_CASE_FIXTURE(Fixture, "a result that cannot be sent leaves the step "
                           "message unacked, so the step runs again") {
  start();
  REQUIRE(provider.delete_queue(kResults).ok());
  send(kQueue, channels::to_json_text(step("tasker.square")));
  auto reply = execute(take(kQueue));
  CHECK(reply.claimed);
  CHECK(status().results_unsent == 1);
  // Still leased (not acked): it comes back once the lease ends.
  CHECK(provider.receive(kQueue, 10, 30s)->empty());
  clock->advance(31s);
  auto again = provider.receive(kQueue, 10, 30s);
  REQUIRE(again->size() == 1);
  CHECK(again->front().delivery_count == 2);
}

TEST_CASE_FIXTURE(Fixture, "an unknown callable is a non-retryable failure "
                           "naming it, with the closest handler") {
  start();
  send(kQueue, channels::to_json_text(step("tasker.sqare")));
  auto reply = execute(take(kQueue));
  CHECK(reply.claimed);
  CHECK_FALSE(reply.success);
  auto sent = results();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].success);
  CHECK_FALSE(sent[0].retryable);
  CHECK(sent[0].error_type == "handler_not_found");
  CHECK(sent[0].error_message.find("'tasker.sqare'") != std::string::npos);
  CHECK(sent[0].error_message.find("did you mean 'tasker.square'")
        != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "a throwing handler is a retryable failure naming "
                           "the exception, and a backoff hint travels") {
  start();
  send(kQueue, channels::to_json_text(step("test.throw", 1)));
  send(kQueue, channels::to_json_text(step("test.hint", 2)));
  execute(take(kQueue));
  execute(take(kQueue));
  auto sent = results();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].error_type == "handler_exception");
  CHECK(sent[0].retryable);
  CHECK(sent[0].error_message
        == "handler 'test.throw' threw std::runtime_error: card declined");
  CHECK(sent[1].error_type == "handler_error");
  CHECK(sent[1].backoff_hint_ms == 1500);
  CHECK(status().steps_failed == 2);
}

TEST_CASE_FIXTURE(Fixture, "an undecodable step message is dead-lettered "
                           "with the reason") {
  start();
  send(kQueue, R"({"task_id": "t", "attempt": 1})");
  auto reply = execute(take(kQueue));
  CHECK(reply.claimed);
  CHECK_FALSE(reply.success);
  CHECK(results().empty());
  auto dead = provider.receive(kQueue + "_dlq", 10, 30s);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK(status().steps_dead_lettered == 1);
}

TEST_CASE_FIXTURE(Fixture, "an event is claimed by id; a message another "
                           "consumer holds is left alone") {
  start();
  auto id = send(kQueue, channels::to_json_text(step("tasker.square")));
  auto held = take(kQueue); // another consumer leases it
  auto handle = self->request(processor, caf::infinite,
                              channels::ExecuteStepFromEvent{kQueue, id});
  drain();
  auto reply = testing::received<channels::StepExecuted>(handle);
  CHECK_FALSE(reply.claimed);
  CHECK(results().empty());
  CHECK(status().steps_claimed == 0);
  // Free again: the event claims it and runs it.
  REQUIRE(
      provider.nack(kQueue, held.id, messaging::NackAction::requeue()).ok());
  auto second = self->request(processor, caf::infinite,
                              channels::ExecuteStepFromEvent{kQueue, id});
  drain();
  CHECK(testing::received<channels::StepExecuted>(second).success);
  CHECK(results().size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a leased copy read while a claim was under way "
                           "runs the step when the claim fails") {
  start();
  auto id = send(kQueue, channels::to_json_text(step("tasker.square")));
  // A notification without a lease starts a claim (a read by id) ...
  messaging::QueuedMessage unleased;
  unleased.queue = kQueue;
  unleased.id = id;
  unleased.leased = false;
  unleased.payload = channels::to_json_text(step("tasker.square"));
  auto first = self->request(processor, caf::infinite,
                             channels::ExecuteStepFromMessage{unleased});
  sched.run();
  REQUIRE(jobs.size() == 1);
  // ... but the poller reads the message first: its leased copy arrives.
  auto second = self->request(processor, caf::infinite,
                              channels::ExecuteStepFromMessage{take(kQueue)});
  drain();
  CHECK_FALSE(testing::received<channels::StepExecuted>(first).claimed);
  auto reply = testing::received<channels::StepExecuted>(second);
  CHECK(reply.claimed);
  CHECK(reply.success);
  CHECK(results().size() == 1);
  CHECK(status().steps_claimed == 1);
}

TEST_CASE_FIXTURE(Fixture, "a message delivered again while its step runs "
                           "is left to the running step") {
  start();
  send(kQueue, channels::to_json_text(step("tasker.square")));
  auto message = take(kQueue);
  auto first = self->request(processor, caf::infinite,
                             channels::ExecuteStepFromMessage{message});
  sched.run(); // taken on: the handler "runs" (its job waits)
  auto again = self->request(processor, caf::infinite,
                             channels::ExecuteStepFromMessage{message});
  sched.run();
  CHECK_FALSE(testing::received<channels::StepExecuted>(again).claimed);
  drain();
  CHECK(testing::received<channels::StepExecuted>(first).success);
  CHECK(results().size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "at most the namespace's concurrency runs at once "
                           "under a burst; other namespaces go on") {
  start();
  for (int i = 1; i <= 20; ++i)
    send(kQueue, channels::to_json_text(step("tasker.square", i)));
  send(kOtherQueue, channels::to_json_text(step("tasker.square", 99)));
  auto burst = provider.receive(kQueue, 20, 30s);
  REQUIRE(burst->size() == 20);
  for (auto& message : *burst)
    self->send(processor, channels::ExecuteStepFromMessage{message});
  sched.run();
  // Three claims are under way; the other 17 wait without a job.
  CHECK(jobs.size() == 3);
  CHECK(status().active_steps == 3);
  self->send(processor, channels::ExecuteStepFromMessage{take(kOtherQueue)});
  sched.run();
  CHECK(jobs.size() == 4);
  // Finish one step at a time: never more than three of billing at once.
  std::size_t finished = 0;
  while (!jobs.empty()) {
    run_jobs(1);
    auto now = status();
    CHECK(now.active_steps <= 4);
    CHECK(now.peak_namespace_utilization <= 1.0);
    finished += results().size();
  }
  CHECK(finished == 21);
  auto now = status();
  CHECK(now.steps_succeeded == 21);
  CHECK(now.peak_namespace_utilization == 1.0);
  CHECK(now.active_steps == 0);
}

TEST_CASE_FIXTURE(Fixture, "freeing slots before sends, a step's command is "
                           "answered and the next step started when its "
                           "handler returns, before the step finishes") {
  options.concurrency = {{"billing", 1}};
  options.free_slot_before_send = true;
  start();
  for (int i = 1; i <= 2; ++i)
    send(kQueue, channels::to_json_text(step("tasker.square", i)));
  auto first = self->request(processor, caf::infinite,
                             channels::ExecuteStepFromMessage{take(kQueue)});
  auto second = self->request(processor, caf::infinite,
                              channels::ExecuteStepFromMessage{take(kQueue)});
  sched.run();
  REQUIRE(jobs.size() == 1); // one slot
  auto job = std::move(jobs.front());
  jobs.pop_front();
  job(); // the handler, then the result's send
  // The actor takes one message at a time here: `StepHandled` first.
  sched.run_once();
  CHECK(jobs.size() == 1); // the second step has the slot
  REQUIRE(self->has_next_message());
  CHECK(testing::received<channels::StepExecuted>(first).claimed);
  CHECK_FALSE(self->has_next_message());
  CHECK(status().active_steps == 1);
  drain();
  CHECK(testing::received<channels::StepExecuted>(second).claimed);
  auto now = status();
  CHECK(now.steps_succeeded == 2);
  CHECK(now.active_steps == 0);
  CHECK(results().size() == 2);
}

TEST_CASE_FIXTURE(Fixture, "the lease of a long step is extended while its "
                           "handler runs") {
  start();
  auto handle = take_on_step(3600);
  // Three minutes, six leases long: never visible to another consumer.
  for (int second = 0; second < 180; second += 5) {
    clock->advance(5s);
    sched.advance_time(5s);
    sched.run();
    CHECK(provider.receive(kQueue, 10, 30s)->empty());
  }
  CHECK(status().lease_extensions >= 16);
  drain();
  CHECK(testing::received<channels::StepExecuted>(handle).success);
  CHECK(results().size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "without the heartbeat the same step's message "
                           "would come back: the lease test can fail") {
  options.heartbeat = 1h;
  start();
  send(kQueue, channels::to_json_text(step("tasker.square")));
  self->send(processor, channels::ExecuteStepFromMessage{take(kQueue)});
  sched.run();
  clock->advance(31s);
  sched.advance_time(31s);
  sched.run();
  CHECK(provider.receive(kQueue, 10, 30s)->size() == 1);
  CHECK(status().lease_extensions == 0);
}

TEST_CASE_FIXTURE(Fixture, "leases are extended off the actor, on the "
                           "upkeep runner; a step that finished meanwhile "
                           "is left alone") {
  hold_upkeep = true;
  start();
  auto handle = take_on_step(3600);
  // The first heartbeat skips a lease younger than one heartbeat.
  for (int beat = 0; beat < 2; ++beat) {
    clock->advance(10s);
    sched.advance_time(10s);
    sched.run();
  }
  REQUIRE(upkeep.size() == 1);
  CHECK(status().lease_extensions == 0); // not extended by the actor
  upkeep.front()();
  upkeep.pop_front();
  CHECK(status().lease_extensions == 1);
  // Past the first lease: still invisible.
  clock->advance(15s);
  CHECK(provider.receive(kQueue, 10, 30s)->empty());
  // The next extension is due, but the handler returns before it runs.
  clock->advance(5s);
  sched.advance_time(10s);
  sched.run();
  REQUIRE(upkeep.size() == 1);
  drain();
  CHECK(testing::received<channels::StepExecuted>(handle).success);
  upkeep.front()();
  upkeep.pop_front();
  auto now = status();
  CHECK(now.lease_extensions == 1);
  CHECK(now.results_unsent == 0);
  CHECK(results().size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a timeout reported on the upkeep runner is sent "
                           "once, and counted when it cannot be") {
  hold_upkeep = true;
  options.timeout_grace = 2s;
  start();
  auto handle = take_on_step(5);
  sched.advance_time(5s);
  sched.run();
  sched.advance_time(2s);
  sched.run();
  REQUIRE(upkeep.size() == 1);
  CHECK(results().empty()); // the actor did not send it itself
  // The results queue is gone: the report fails.
  REQUIRE(provider.delete_queue(kResults).ok());
  upkeep.front()();
  upkeep.pop_front();
  CHECK(status().results_unsent == 1);
  // The handler returns late: not sent, and not counted a second time.
  drain();
  CHECK_FALSE(testing::received<channels::StepExecuted>(handle).success);
  auto now = status();
  CHECK(now.results_unsent == 1);
  CHECK(now.steps_timed_out == 1);
}

TEST_CASE_FIXTURE(Fixture, "a handler that ignores its timeout gets a "
                           "timeout reported in its place, once") {
  options.timeout_grace = 2s;
  start();
  auto handle = take_on_step(5);
  sched.advance_time(5s);
  sched.run();
  CHECK(results().empty()); // stop requested, grace running
  sched.advance_time(2s);
  sched.run();
  auto sent = results();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].error_type == "handler_timeout");
  CHECK(sent[0].retryable);
  // The handler returns late: its result is not sent a second time.
  drain();
  CHECK(results().empty());
  auto reply = testing::received<channels::StepExecuted>(handle);
  CHECK(reply.claimed);
  CHECK_FALSE(reply.success);
  CHECK(status().steps_timed_out == 1);
}

TEST_CASE_FIXTURE(Fixture, "one timer serves every step's deadline: a "
                           "later step's earlier deadline comes first, a "
                           "finished step's never") {
  options.timeout_grace = 2s;
  start();
  auto slow = step("tasker.square", 1);
  slow.timeout_seconds = 60;
  auto quick = step("tasker.square", 2);
  quick.timeout_seconds = 5;
  send(kQueue, channels::to_json_text(slow));
  self->send(processor, channels::ExecuteStepFromMessage{take(kQueue)});
  send(kQueue, channels::to_json_text(quick));
  self->send(processor, channels::ExecuteStepFromMessage{take(kQueue)});
  sched.run(); // both handlers "run", the slow one first
  REQUIRE(jobs.size() == 2);
  sched.advance_time(5s);
  sched.run();
  CHECK(results().empty()); // the quick one's grace is running
  sched.advance_time(2s);
  sched.run();
  auto sent = results();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].step_id == "step-2");
  CHECK(sent[0].error_type == "handler_timeout");
  // The slow one's handler returns in time; its deadline goes with it.
  run_jobs(1);
  sent = results();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].step_id == "step-1");
  CHECK(sent[0].success);
  sched.advance_time(60s);
  sched.run();
  drain();
  CHECK(results().empty());
  CHECK(status().steps_timed_out == 1);
}

TEST_CASE_FIXTURE(Fixture, "tasker.sleep returns at the step's timeout") {
  options.timeout_grace = 10s;
  start();
  auto s = step("tasker.sleep");
  s.initialization = json{{"duration_ms", 3600000}};
  s.timeout_seconds = 1;
  send(kQueue, channels::to_json_text(s));
  self->send(processor, channels::ExecuteStepFromMessage{take(kQueue)});
  sched.run();
  REQUIRE(jobs.size() == 1);
  sched.advance_time(1s);
  sched.run(); // the stop is requested before the handler starts waiting
  drain();
  auto sent = results();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].error_type == "handler_timeout");
  CHECK(sent[0].error_message == "tasker.sleep stopped at the step's timeout");
}

// The provider notifies without leasing, as PGMQ does.
struct NotifyingFixture : Fixture {
  NotifyingFixture() : Fixture(messaging::InMemoryPushMode::notify) {}
};

TEST_CASE_FIXTURE(NotifyingFixture, "the event system stops reading a full "
                                    "namespace and reads on as steps finish") {
  start();
  actors::EventSystemOptions es;
  es.name = "worker billing";
  es.queues = {kQueue};
  es.config.deployment_mode = config::DeploymentMode::hybrid;
  es.config.fallback_polling_interval_ms = 1000;
  es.config.batch_size = 20;
  es.config.max_in_flight = 3;
  es.mode_key = "worker.event_system.deployment_mode";
  auto events = sys.spawn<actors::WorkerEventSystem>(provider, processor,
                                                     &actors::route_worker, es);
  sched.run();
  for (int i = 1; i <= 50; ++i)
    send(kQueue, channels::to_json_text(step("tasker.square", i)));
  sched.run();
  // Three commands are taken on; once claimed, the rest stay visible.
  CHECK(jobs.size() == 3);
  run_jobs(3);
  CHECK(visible(kQueue) == 47);
  std::size_t done = 0;
  for (int round = 0; round < 200 && done < 50; ++round) {
    run_jobs(1);
    done += results().size();
    CHECK(50 - static_cast<int64_t>(done) - visible(kQueue) <= 3);
    if (jobs.empty()) {
      sched.advance_time(1s);
      sched.run();
    }
  }
  CHECK(done == 50);
  self->send_exit(events, caf::exit_reason::user_shutdown);
  sched.run();
}

} // namespace
