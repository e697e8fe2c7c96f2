#include "actors/notification_router.hpp"
#include "channels/actor_system_setup.hpp"

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

// Records every command it gets, as "Command:queue:id", and answers it.
orchestration_processor_actor::behavior_type
recording_processor(orchestration_processor_actor::pointer,
                    std::vector<std::string>* seen) {
  auto from_message = [seen](const char* name, const QueuedMessage& m) {
    seen->push_back(std::string{name} + ":" + m.queue + ":"
                    + std::to_string(m.id));
  };
  auto from_event = [seen](const char* name, const std::string& queue,
                           int64_t id) {
    seen->push_back(std::string{name} + ":" + queue + ":" + std::to_string(id));
  };
  return {
      [](InitializeTask&) {
        return TaskInitialized{};
      },
      [=](InitializeTaskFromMessage& c) {
        from_message("InitializeTaskFromMessage", c.message);
        return TaskInitialized{"t1", true};
      },
      [=](InitializeTaskFromMessageEvent& c) {
        from_event("InitializeTaskFromMessageEvent", c.queue, c.msg_id);
        return TaskInitialized{"t2", true};
      },
      [](ProcessStepResult&) {
        return StepResultProcessed{};
      },
      [=](ProcessStepResultFromMessage& c) {
        from_message("ProcessStepResultFromMessage", c.message);
        return StepResultProcessed{};
      },
      [=](ProcessStepResultFromMessageEvent& c) {
        from_event("ProcessStepResultFromMessageEvent", c.queue, c.msg_id);
        return StepResultProcessed{};
      },
      [](FinalizeTask&) {
        return TaskFinalized{};
      },
      [=](FinalizeTaskFromMessage& c) {
        from_message("FinalizeTaskFromMessage", c.message);
        return TaskFinalized{};
      },
      [=](FinalizeTaskFromMessageEvent& c) {
        from_event("FinalizeTaskFromMessageEvent", c.queue, c.msg_id);
        return TaskFinalized{};
      },
      [](GetProcessingStats&) {
        return ProcessingStats{};
      },
      [](OrchestrationHealthCheck&) {
        return OrchestrationHealth{};
      },
  };
}

fallback_poller_actor::behavior_type
recording_poller(fallback_poller_actor::pointer,
                 std::vector<std::string>* polls) {
  return {
      [polls](PollRequested& p) {
        polls->push_back(p.queue);
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

  EventSystemStats stats(const router_actor& router) {
    auto handle = self->request(router, caf::infinite, GetEventSystemStats{});
    sched.run();
    EventSystemStats out;
    handle.receive(
        [&](EventSystemStats& s) {
          out = s;
        },
        [&](caf::error& err) {
          FAIL(caf::to_string(err));
        });
    return out;
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
  auto processor = f.sys.spawn(recording_processor, &f.seen);
  auto poller = f.sys.spawn(recording_poller, &f.polls);
  auto router = f.sys.spawn(
      notification_router<orchestration_processor_actor, OrchestrationRoute>,
      processor, poller, &route_orchestration);
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
        == std::vector<std::string>{"orchestration_task_finalizations"});
  auto stats = f.stats(router);
  CHECK(stats.notifications == 4);
  CHECK(stats.commands_routed == 2);
  CHECK(stats.unknown_queue == 1);
  CHECK(stats.in_flight == 0);
  CHECK(stats.max_in_flight >= 1);
  f.self->send_exit(router, caf::exit_reason::user_shutdown);
  f.self->send_exit(processor, caf::exit_reason::user_shutdown);
  f.self->send_exit(poller, caf::exit_reason::user_shutdown);
  f.sched.run();
}
