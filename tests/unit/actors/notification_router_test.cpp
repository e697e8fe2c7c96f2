#include "actors/event_system.hpp"
#include "actors/notification_router.hpp"
#include "channels/actor_system_setup.hpp"
#include "tests/support/fake_processors.hpp"
#include "tests/support/received.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <string>
#include <vector>

using namespace tasker;
using namespace tasker::actors;
using namespace tasker::channels;
using messaging::Available;
using messaging::Message;
using messaging::QueuedMessage;

namespace {

Message message_on(std::string queue, int64_t id) {
  QueuedMessage m;
  m.queue = std::move(queue);
  m.id = id;
  m.payload = "{}";
  return Message{m};
}

// Records what a router asks of its poller.
fallback_poller_actor::behavior_type
recording_poller(fallback_poller_actor::pointer,
                 std::vector<std::string>* polls) {
  return {
      [](PollTick&) {},
      [polls](PollRequested& p) {
        polls->push_back(p.scan ? "scan:" + p.queue : p.queue);
      },
      [polls](ReleaseMessages& r) {
        for (auto id : r.ids)
          polls->push_back("release:" + r.queue + ":" + std::to_string(id));
      },
      [](StopPolling&) {},
      [](FinishPolling&) {
        return PollerFinished{};
      },
  };
}

struct RouterFixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::vector<std::string> seen;
  std::vector<std::string> polls;
  caf::scoped_actor self;

  RouterFixture()
      : sys{prepared(cfg)},
        sched{dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())},
        self{sys} {}

  static caf::actor_system_config& prepared(caf::actor_system_config& cfg) {
    configure_actor_system(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  PollerFactory recording_poller_factory() {
    return [this](caf::local_actor* router_self, notification_router_actor) {
      return router_self->spawn<caf::linked>(recording_poller, &polls);
    };
  }

  EventSystemStats stats(const notification_router_actor& router) {
    auto handle = self->request(router, caf::infinite, GetEventSystemStats{});
    sched.run();
    return testing::received<EventSystemStats>(handle);
  }
};

} // namespace

TEST_CASE("each orchestration queue role routes to its own command") {
  auto route = [](messaging::MessageNotification n) {
    return route_orchestration(std::move(n)).index();
  };
  using R = OrchestrationRoute;
  CHECK(route(message_on("orchestration_task_requests", 1))
        == R{InitializeTaskFromMessage{}}.index());
  CHECK(route(Available{"orchestration_task_requests", 1})
        == R{InitializeTaskFromMessageEvent{}}.index());
  CHECK(route(message_on("orchestration_step_results", 1))
        == R{ProcessStepResultFromMessage{}}.index());
  CHECK(route(Available{"orchestration_step_results", 1})
        == R{ProcessStepResultFromMessageEvent{}}.index());
  CHECK(route(message_on("orchestration_task_finalizations", 1))
        == R{FinalizeTaskFromMessage{}}.index());
  CHECK(route(Available{"orchestration_task_finalizations", 1})
        == R{FinalizeTaskFromMessageEvent{}}.index());
  CHECK(route(Available{"orchestration_step_results", std::nullopt})
        == R{PollRequested{}}.index());
  auto unknown = route_orchestration(message_on("worker_billing_queue", 3));
  REQUIRE(std::holds_alternative<UnroutableNotification>(unknown));
  CHECK(std::get<UnroutableNotification>(unknown).role == "worker_steps");
}

TEST_CASE("worker queues route to the execute commands, others do not") {
  auto msg = route_worker(message_on("worker_billing_queue", 4));
  REQUIRE(std::holds_alternative<ExecuteStepFromMessage>(msg));
  CHECK(std::get<ExecuteStepFromMessage>(msg).message.id == 4);
  auto event = route_worker(Available{"worker_billing_queue", 5});
  REQUIRE(std::holds_alternative<ExecuteStepFromEvent>(event));
  CHECK(std::get<ExecuteStepFromEvent>(event).msg_id == 5);
  CHECK(std::holds_alternative<PollRequested>(
      route_worker(Available{"worker_billing_queue", std::nullopt})));
  auto other = route_worker(message_on("orchestration_step_results", 6));
  REQUIRE(std::holds_alternative<UnroutableNotification>(other));
  CHECK(std::get<UnroutableNotification>(other).queue
        == "orchestration_step_results");
}

TEST_CASE("the router requests the dual command and counts what it did") {
  RouterFixture f;
  auto processor
      = f.sys.spawn(testing::recording_orchestration_processor, &f.seen);
  auto router = f.sys.spawn<
      NotificationRouter<orchestration_processor_actor, OrchestrationRoute>>(
      processor, f.recording_poller_factory(), &route_orchestration, 100);
  for (messaging::MessageNotification n :
       {messaging::MessageNotification{
            message_on("orchestration_step_results", 7)},
        messaging::MessageNotification{
            Available{"orchestration_task_requests", 8}},
        messaging::MessageNotification{
            Available{"orchestration_task_finalizations", std::nullopt}},
        messaging::MessageNotification{message_on("mystery_queue", 9)}})
    f.self->send(router, NotificationReceived{std::move(n)});
  f.sched.run();
  CHECK(f.seen
        == std::vector<std::string>{
            "ProcessStepResultFromMessage:orchestration_step_results:7",
            "InitializeTaskFromMessageEvent:orchestration_task_requests:8"});
  CHECK(f.polls
        == std::vector<std::string>{"scan:orchestration_task_finalizations"});
  auto stats = f.stats(router);
  CHECK(stats.notifications == 4);
  CHECK(stats.commands_routed == 2);
  CHECK(stats.unknown_queue == 1);
  CHECK(stats.in_flight == 0);
  CHECK(stats.max_in_flight >= 1);
  f.self->send_exit(router, caf::exit_reason::user_shutdown);
  f.self->send_exit(processor, caf::exit_reason::user_shutdown);
  f.sched.run();
}

TEST_CASE("a message in flight is routed once however often it is seen") {
  RouterFixture f;
  testing::WorkerLog log{
      messaging::MessagingProvider{messaging::InMemoryProvider{}}};
  REQUIRE(log.provider.create_queue("worker_billing_queue").ok());
  auto id = log.provider.send("worker_billing_queue", {"{}", {}, {}});
  REQUIRE(id.ok());
  log.hold = true;
  auto processor = f.sys.spawn(testing::fake_worker_processor, &log);
  auto router
      = f.sys.spawn<NotificationRouter<worker_processor_actor, WorkerRoute>>(
          processor, f.recording_poller_factory(), &route_worker, 10);
  // The listener's inline notification, then the same message signalled
  // again (a repeated NOTIFY): one command, one duplicate.
  QueuedMessage inline_copy;
  inline_copy.queue = "worker_billing_queue";
  inline_copy.id = *id;
  inline_copy.payload = "{}";
  inline_copy.leased = false;
  f.self->send(router, NotificationReceived{Message{inline_copy}});
  f.self->send(router,
               NotificationReceived{Available{"worker_billing_queue", *id}});
  f.sched.run();
  CHECK(log.commands
        == std::vector<std::string>{"message:" + std::to_string(*id)
                                    + ":unleased"});
  auto stats = f.stats(router);
  CHECK(stats.duplicates == 1);
  CHECK(stats.in_flight == 1);
  // It was notified again while in flight: once answered, its queue is
  // polled in case it came back (e.g. requeued).
  log.finish();
  f.sched.run();
  CHECK(f.polls == std::vector<std::string>{"scan:worker_billing_queue"});
  CHECK(log.processed == std::map<int64_t, int>{{*id, 1}});
  CHECK(f.stats(router).in_flight == 0);
  f.self->send_exit(router, caf::exit_reason::user_shutdown);
  f.self->send_exit(processor, caf::exit_reason::user_shutdown);
  f.sched.run();
}

TEST_CASE("polls get capacity before they read, and saturation defers") {
  RouterFixture f;
  std::vector<std::string> seen;
  auto processor
      = f.sys.spawn(testing::recording_orchestration_processor, &seen);
  auto router = f.sys.spawn<
      NotificationRouter<orchestration_processor_actor, OrchestrationRoute>>(
      processor, f.recording_poller_factory(), &route_orchestration, 3);
  auto reserve = [&](int64_t wanted) {
    auto handle = f.self->request(
        router, caf::infinite,
        ReservePollCapacity{"orchestration_step_results", wanted, true});
    f.sched.run();
    return testing::received<PollCapacity>(handle).granted;
  };
  CHECK(reserve(2) == 2);
  CHECK(reserve(5) == 1);
  CHECK(reserve(1) == 0);
  auto stats = f.stats(router);
  CHECK(stats.saturations == 1);
  // The first poll returns one message of two reserved; the second none.
  QueuedMessage m;
  m.queue = "orchestration_step_results";
  m.id = 41;
  m.leased = true;
  f.self->send(router, PolledMessages{m.queue, {m}, 2});
  f.self->send(router, PolledMessages{m.queue, {}, 1});
  f.sched.run();
  CHECK(seen
        == std::vector<std::string>{
            "ProcessStepResultFromMessage:orchestration_step_results:41"});
  // The refused poll's queue is polled again once capacity is back.
  CHECK(f.polls == std::vector<std::string>{"orchestration_step_results"});
  stats = f.stats(router);
  CHECK(stats.polls == 2);
  CHECK(stats.polled_messages == 1);
  CHECK(stats.in_flight == 0);
  f.self->send_exit(router, caf::exit_reason::user_shutdown);
  f.self->send_exit(processor, caf::exit_reason::user_shutdown);
  f.sched.run();
}

TEST_CASE("saturated, deferred notifications reach the poller as ids to "
          "claim") {
  RouterFixture f;
  testing::WorkerLog log{
      messaging::MessagingProvider{messaging::InMemoryProvider{}}};
  const std::string queue = "worker_billing_queue";
  REQUIRE(log.provider.create_queue(queue).ok());
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = log.provider.send(queue, {"{}", {}, {}});
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  log.hold = true;
  auto processor = f.sys.spawn(testing::fake_worker_processor, &log);
  auto router
      = f.sys.spawn<NotificationRouter<worker_processor_actor, WorkerRoute>>(
          processor, f.recording_poller_factory(), &route_worker, 1);
  for (auto id : ids)
    f.self->send(router, NotificationReceived{Available{queue, id}});
  f.sched.run();
  CHECK(log.commands
        == std::vector<std::string>{"event:" + std::to_string(ids[0])});
  auto reserve = [&] {
    auto handle = f.self->request(router, caf::infinite,
                                  ReservePollCapacity{queue, 5, false});
    f.sched.run();
    return testing::received<PollCapacity>(handle);
  };
  CHECK(reserve().granted == 0);
  // The first finishes: the queue is polled for the next id, not scanned.
  log.finish();
  f.sched.run();
  CHECK(f.polls == std::vector<std::string>{queue});
  auto capacity = reserve();
  CHECK(capacity.granted == 1);
  CHECK(capacity.ids == std::vector<int64_t>{ids[1]});
  CHECK_FALSE(capacity.scan);
  f.self->send_exit(router, caf::exit_reason::user_shutdown);
  f.self->send_exit(processor, caf::exit_reason::user_shutdown);
  f.sched.run();
}
