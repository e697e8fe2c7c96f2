#include "channels/event_system_messages.hpp"
#include "channels/notifications.hpp"
#include "channels/orchestration_commands.hpp"
#include "channels/type_ids.hpp"
#include "channels/worker_commands.hpp"
#include "tests/unit/channels/channels_fixture.hpp"

#include <caf/deep_to_string.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <variant>

namespace tasker::channels {
namespace {

using test::ChannelsFixture;
using test::same_message;
using test::sample_message;

TaskRequest sample_request() {
  return TaskRequest{"payments",       "refund",
                     "1.2.0",          R"({"amount":42})",
                     "idem-7",         5,
                     "alice",          "billing",
                     "customer asked", "0190d5a2-7c1e-7000-8000-000000000009"};
}

StepResult sample_step_result() {
  return StepResult{"0190d5a2-7c1e-7000-8000-000000000001",
                    "0190d5a2-7c1e-7000-8000-000000000002",
                    2,
                    false,
                    R"({"partial":true})",
                    "gateway timed out",
                    "handler_timeout",
                    true,
                    1'500,
                    "worker-3",
                    1'700'000'000'000'001,
                    1'700'000'000'250'002};
}

// Both transports: the struct alone, and inside a registered message.
template <class T>
void check_round_trips(ChannelsFixture& fix, const T& value) {
  CHECK(fix.binary_round_trip(value) == value);
  CHECK(fix.message_round_trip(value) == value);
}

TEST_CASE_FIXTURE(ChannelsFixture, "orchestration commands round-trip") {
  check_round_trips(*this, InitializeTask{sample_request()});
  check_round_trips(*this,
                    InitializeTaskFromMessageEvent{"tasks", 11, "task-9"});
  check_round_trips(*this, ProcessStepResult{sample_step_result()});
  check_round_trips(*this, ProcessStepResultFromMessageEvent{"results", 12});
  check_round_trips(*this, FinalizeTask{"task-1"});
  check_round_trips(*this, FinalizeTaskFromMessageEvent{"finals", 13});
  check_round_trips(*this, GetProcessingStats{});
  check_round_trips(*this, OrchestrationHealthCheck{});
}

TEST_CASE_FIXTURE(ChannelsFixture, "orchestration replies round-trip") {
  check_round_trips(*this,
                    TaskInitialized{"task-1", true, R"({"id":"task-1"})"});
  check_round_trips(*this, StepResultProcessed{"task-1", "step-1", true});
  check_round_trips(*this, TaskFinalized{"task-1", false, "complete", "o-2"});
  check_round_trips(*this, ProcessingStats{1, 2, 3, 4, 5});
  check_round_trips(
      *this, OrchestrationHealth{true, true, false, 7, 50, "queue x missing"});
}

TEST_CASE_FIXTURE(ChannelsFixture,
                  "commands carrying a queued message round-trip") {
  auto msg = sample_message("orchestration_task_requests");
  CHECK(same_message(binary_round_trip(msg), msg));
  auto initialize = binary_round_trip(InitializeTaskFromMessage{msg, "task-9"});
  CHECK(same_message(initialize.message, msg));
  CHECK(initialize.task_id == "task-9");
  CHECK(same_message(
      message_round_trip(InitializeTaskFromMessage{msg, "task-9"}).message,
      msg));
  CHECK(same_message(
      message_round_trip(ProcessStepResultFromMessage{msg}).message, msg));
  CHECK(same_message(message_round_trip(FinalizeTaskFromMessage{msg}).message,
                     msg));
  CHECK(same_message(message_round_trip(ExecuteStepFromMessage{msg}).message,
                     msg));
}

TEST_CASE_FIXTURE(ChannelsFixture, "worker commands and replies round-trip") {
  check_round_trips(*this, ExecuteStepFromEvent{"worker_payments_queue", 99});
  check_round_trips(*this, StepExecuted{"task-1", "step-1", true, true});
  check_round_trips(*this, GetWorkerStatus{});
  check_round_trips(
      *this, WorkerStatus{"worker-3", 10, 9, 7, 2, 1, 3, 4, 5, 1, 8, 0.75});
  check_round_trips(*this, StepReady{7});
  check_round_trips(*this, StepHandled{6});
  check_round_trips(*this, StepFinished{8});
  check_round_trips(*this, DeadlinesDue{});
  check_round_trips(*this, LeaseTick{});
  check_round_trips(*this, WorkerHealthCheck{});
  check_round_trips(*this, WorkerHealth{false, false, 3, 8, "db down"});
  check_round_trips(*this, ShutdownWorker{});
}

TEST_CASE_FIXTURE(ChannelsFixture, "notifications round-trip") {
  check_round_trips(*this, PollRequested{"worker_payments_queue"});
  check_round_trips(*this, PollRequested{"worker_payments_queue", true});
  check_round_trips(*this, GetEventSystemStats{});
  check_round_trips(
      *this, EventSystemStats{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});

  SUBCASE("Available with id") {
    NotificationReceived in{messaging::Available{"q1", 17}};
    for (auto out : {binary_round_trip(in), message_round_trip(in)}) {
      auto available = std::get_if<messaging::Available>(&out.notification);
      REQUIRE(available != nullptr);
      CHECK(available->queue == "q1");
      CHECK(available->msg_id == std::optional<int64_t>{17});
    }
  }
  SUBCASE("Available without id") {
    NotificationReceived in{messaging::Available{"q2", std::nullopt}};
    for (auto out : {binary_round_trip(in), message_round_trip(in)}) {
      auto available = std::get_if<messaging::Available>(&out.notification);
      REQUIRE(available != nullptr);
      CHECK(available->queue == "q2");
      CHECK_FALSE(available->msg_id.has_value());
    }
  }
  SUBCASE("Message") {
    auto msg = sample_message("worker_payments_queue");
    NotificationReceived in{messaging::Message{msg}};
    for (auto out : {binary_round_trip(in), message_round_trip(in)}) {
      auto message = std::get_if<messaging::Message>(&out.notification);
      REQUIRE(message != nullptr);
      CHECK(same_message(message->message, msg));
    }
  }
}

TEST_CASE_FIXTURE(ChannelsFixture, "event system messages round-trip") {
  check_round_trips(*this, ReservePollCapacity{"q", 20, true});
  check_round_trips(*this, PollCapacity{7, {3, 4}, false});
  check_round_trips(*this, ReleaseMessages{"q", {1, 2, 3}, 1000});
  check_round_trips(*this, PollTick{});
  check_round_trips(*this, StopPolling{});
  check_round_trips(*this, FinishPolling{});
  check_round_trips(*this, PollerFinished{4, 1});
  check_round_trips(*this, RetrySubscribe{});
  check_round_trips(*this, GetListenerStatus{});
  check_round_trips(*this, ListenerStatus{true, 3, "refused"});
  check_round_trips(*this, DrainEventSystem{500});
  check_round_trips(*this, DrainDeadline{});
  check_round_trips(*this, DrainReport{false, 2, 5});
  check_round_trips(*this, ShutdownEventSystem{30000});
  check_round_trips(*this, GetEventSystemStatus{});
  check_round_trips(*this, FlushBatches{});
  check_round_trips(*this, RelayOutbox{});
  check_round_trips(*this, SweepTick{});
  check_round_trips(*this, EventSystemStatus{"worker",
                                             "pgmq",
                                             "Hybrid",
                                             false,
                                             {"worker_a_queue"},
                                             true,
                                             true,
                                             EventSystemStats{1, 2, 3}});

  auto msg = sample_message("worker_payments_queue");
  PolledMessages in{"worker_payments_queue", {msg, msg}, 5, false};
  for (auto out : {binary_round_trip(in), message_round_trip(in)}) {
    CHECK(out.queue == in.queue);
    CHECK(out.reserved == 5);
    CHECK_FALSE(out.scanned);
    REQUIRE(out.messages.size() == 2);
    CHECK(same_message(out.messages[1], msg));
  }
}

TEST_CASE("messages render readably") {
  CHECK(caf::deep_to_string(ExecuteStepFromEvent{"q", 5})
        == R"(ExecuteStepFromEvent("q", 5))");
  NotificationReceived available{messaging::Available{"q", std::nullopt}};
  CHECK(caf::deep_to_string(available).find("Available(\"q\"")
        != std::string::npos);
  auto rendered = caf::deep_to_string(InitializeTaskFromMessage{
      sample_message("orchestration_task_requests"), "task-9"});
  CHECK(rendered.find("QueuedMessage(\"orchestration_task_requests\", 4242")
        != std::string::npos);
}

} // namespace
} // namespace tasker::channels
