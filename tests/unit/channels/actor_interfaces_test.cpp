#include "channels/actor_interfaces.hpp"
#include "channels/error_category.hpp"
#include "core/error.hpp"
#include "tests/unit/channels/channels_fixture.hpp"

#include <caf/exit_reason.hpp>
#include <caf/result.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>

#include <doctest/doctest.h>

#include <string>
#include <type_traits>
#include <utility>

namespace tasker::channels {
namespace {

using test::ChannelsFixture;
using test::sample_message;

// -- compile-time proofs ------------------------------------------------------
//
// `send` and `request` check the receiver with the same trait as `kAccepts`.
// Observed with g++ 12 and CAF 0.17.6 when sending the wrong command:
//   self->send(orchestration, ExecuteStepFromEvent{"q", 1});
//     caf/mixin/sender.hpp:233: error: static assertion failed: receiver does
//     not accept given message
//   self->request(worker, caf::infinite, InitializeTask{});
//     error: no matching function for call to 'caf::blocking_actor::request(
//     tasker::channels::worker_processor_actor&, ..., InitializeTask)'

template <class Handle, class Message>
using ReplyOf = caf::response_type_unbox_t<caf::signatures_of_t<Handle>,
                                           caf::detail::type_list<Message>>;

template <class Handle, class Message, class Reply>
constexpr bool kRepliesWith
    = std::is_same_v<ReplyOf<Handle, Message>, caf::detail::type_list<Reply>>;

using Orchestration = orchestration_processor_actor;
using Worker = worker_processor_actor;

static_assert(kRepliesWith<Orchestration, InitializeTask, TaskInitialized>);
static_assert(
    kRepliesWith<Orchestration, InitializeTaskFromMessage, TaskInitialized>);
static_assert(kRepliesWith<Orchestration, InitializeTaskFromMessageEvent,
                           TaskInitialized>);
static_assert(
    kRepliesWith<Orchestration, ProcessStepResult, StepResultProcessed>);
static_assert(kRepliesWith<Orchestration, ProcessStepResultFromMessage,
                           StepResultProcessed>);
static_assert(kRepliesWith<Orchestration, ProcessStepResultFromMessageEvent,
                           StepResultProcessed>);
static_assert(kRepliesWith<Orchestration, FinalizeTask, TaskFinalized>);
static_assert(
    kRepliesWith<Orchestration, FinalizeTaskFromMessage, TaskFinalized>);
static_assert(
    kRepliesWith<Orchestration, FinalizeTaskFromMessageEvent, TaskFinalized>);
static_assert(kRepliesWith<Orchestration, GetProcessingStats, ProcessingStats>);
static_assert(
    kRepliesWith<Orchestration, OrchestrationHealthCheck, OrchestrationHealth>);

static_assert(kRepliesWith<Worker, ExecuteStepFromMessage, StepExecuted>);
static_assert(kRepliesWith<Worker, ExecuteStepFromEvent, StepExecuted>);
static_assert(kRepliesWith<Worker, GetWorkerStatus, WorkerStatus>);
static_assert(kRepliesWith<Worker, WorkerHealthCheck, WorkerHealth>);
static_assert(kAccepts<Worker, ShutdownWorker>);

using Router = notification_router_actor;
static_assert(kAccepts<Router, NotificationReceived>);
static_assert(kRepliesWith<Router, GetEventSystemStats, EventSystemStats>);
static_assert(kRepliesWith<Router, ReservePollCapacity, PollCapacity>);
static_assert(kRepliesWith<Router, DrainEventSystem, DrainReport>);
static_assert(kAccepts<fallback_poller_actor, PollRequested>);
static_assert(kAccepts<fallback_poller_actor, ReleaseMessages>);
static_assert(
    kRepliesWith<provider_listener_actor, GetListenerStatus, ListenerStatus>);
static_assert(
    kRepliesWith<event_system_actor, ShutdownEventSystem, DrainReport>);
static_assert(
    kRepliesWith<event_system_actor, GetEventSystemStatus, EventSystemStatus>);

// The wrong command for the wrong actor.
static_assert(!kAccepts<Orchestration, ExecuteStepFromEvent>);
static_assert(!kAccepts<Orchestration, ExecuteStepFromMessage>);
static_assert(!kAccepts<Orchestration, GetWorkerStatus>);
static_assert(!kAccepts<Worker, InitializeTask>);
static_assert(!kAccepts<Worker, ProcessStepResultFromMessageEvent>);
static_assert(!kAccepts<Worker, FinalizeTask>);
static_assert(!kAccepts<Worker, GetProcessingStats>);
static_assert(!kAccepts<Router, InitializeTask>);
static_assert(!kAccepts<Router, ExecuteStepFromEvent>);
static_assert(!kAccepts<fallback_poller_actor, NotificationReceived>);
static_assert(!kAccepts<event_system_actor, NotificationReceived>);
// Raw notifications and payloads are not commands.
static_assert(!kAccepts<Worker, messaging::QueuedMessage>);
static_assert(!kAccepts<Router, messaging::Available>);
static_assert(!kAccepts<Worker, ExecuteStepFromEvent, int64_t>);
// Dynamically typed handles accept anything: the reason for typed ones.
static_assert(kAccepts<caf::actor, ExecuteStepFromEvent>);

// -- a tiny worker processor --------------------------------------------------

struct FakeWorkerState {
  WorkerStatus status = [] {
    WorkerStatus out;
    out.max_concurrent_steps = 4;
    return out;
  }();
};

Worker::behavior_type
fake_worker(Worker::stateful_pointer<FakeWorkerState> self,
            std::string worker_id) {
  self->state.status.worker_id = std::move(worker_id);
  return {
      [=](ExecuteStepFromMessage& cmd) -> StepExecuted {
        ++self->state.status.steps_received;
        ++self->state.status.steps_claimed;
        ++self->state.status.steps_succeeded;
        return StepExecuted{"task-of-" + cmd.message.queue,
                            "step-" + std::to_string(cmd.message.id), true,
                            true};
      },
      [=](ExecuteStepFromEvent& cmd) -> caf::result<StepExecuted> {
        ++self->state.status.steps_received;
        if (cmd.msg_id <= 0)
          return to_caf_error(
              core::Error{core::ErrorCode::invalid_argument,
                          "bad message id " + std::to_string(cmd.msg_id)});
        ++self->state.status.steps_claimed;
        ++self->state.status.steps_failed;
        return StepExecuted{"task-of-" + cmd.queue,
                            "step-" + std::to_string(cmd.msg_id), true, false};
      },
      [=](GetWorkerStatus) -> WorkerStatus {
        return self->state.status;
      },
      [=](WorkerHealthCheck) -> WorkerHealth {
        return WorkerHealth{true, true, self->state.status.active_steps,
                            self->state.status.max_concurrent_steps, ""};
      },
      [=](ShutdownWorker) {
        self->quit(caf::exit_reason::user_shutdown);
      },
  };
}

struct WorkerFixture : ChannelsFixture {
  caf::scheduler::test_coordinator& sched
      = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};
  // Spawning a function-based actor without arguments makes CAF 0.17.6
  // dereference a null `shared_ptr<std::tuple<>>` (UBSan: reference binding
  // to null pointer, init_fun_factory.hpp:85); an argument avoids that path.
  Worker worker = sys.spawn(fake_worker, std::string{"fake-worker"});

  /// Sends `cmd` to the worker, runs every pending job, and returns the
  /// reply or the error.
  template <class Reply, class Command>
  caf::expected<Reply> ask(Command cmd) {
    auto handle = self->request(worker, caf::infinite, std::move(cmd));
    sched.run();
    caf::expected<Reply> out{caf::sec::bad_function_call};
    handle.receive(
        [&](Reply& reply) {
          out = std::move(reply);
        },
        [&](caf::error& err) {
          out = std::move(err);
        });
    return out;
  }
};

TEST_CASE_FIXTURE(WorkerFixture, "a worker processor answers typed commands") {
  auto executed = ask<StepExecuted>(ExecuteStepFromEvent{"worker_q", 7});
  REQUIRE(executed);
  CHECK(*executed == StepExecuted{"task-of-worker_q", "step-7", true, false});

  auto from_message
      = ask<StepExecuted>(ExecuteStepFromMessage{sample_message("worker_q")});
  REQUIRE(from_message);
  CHECK(*from_message
        == StepExecuted{"task-of-worker_q", "step-4242", true, true});

  auto status = ask<WorkerStatus>(GetWorkerStatus{});
  REQUIRE(status);
  CHECK(status->worker_id == "fake-worker");
  CHECK(status->steps_received == 2);
  CHECK(status->steps_claimed == 2);
  CHECK(status->steps_succeeded == 1);
  CHECK(status->steps_failed == 1);
  CHECK(status->max_concurrent_steps == 4);

  auto health = ask<WorkerHealth>(WorkerHealthCheck{});
  REQUIRE(health);
  CHECK(health->healthy);
}

TEST_CASE_FIXTURE(WorkerFixture, "a command error reaches the requester") {
  auto executed = ask<StepExecuted>(ExecuteStepFromEvent{"worker_q", 0});
  REQUIRE_FALSE(executed);
  auto err = from_caf_error(executed.error());
  CHECK(err.code() == core::ErrorCode::invalid_argument);
  CHECK(err.message() == "bad message id 0");
}

TEST_CASE_FIXTURE(WorkerFixture, "ShutdownWorker stops the worker") {
  self->send(worker, ShutdownWorker{});
  sched.run();
  auto status = ask<WorkerStatus>(GetWorkerStatus{});
  REQUIRE_FALSE(status);
  CHECK(status.error() == caf::sec::request_receiver_down);
}

} // namespace
} // namespace tasker::channels
