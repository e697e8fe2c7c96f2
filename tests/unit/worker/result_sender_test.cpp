#include "worker/result_sender.hpp"

#include "channels/message_json.hpp"
#include "core/logger.hpp"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace tasker;
using namespace tasker::worker;

namespace {

channels::StepResult result_of(const std::string& step_id) {
  channels::StepResult result;
  result.task_id = "task";
  result.step_id = step_id;
  result.attempt = 1;
  result.success = true;
  result.result_json = "4";
  return result;
}

/// One transport call as the sender made it.
struct Call {
  std::vector<std::string> step_ids;
  std::string acked_queue;
  std::vector<int64_t> acked_ids;
};

/// A transport that records its calls and, while `hold` is set, keeps the
/// first call waiting until `release`.
struct RecordingTransport {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Call> calls;
  bool hold = false;
  bool holding = false;
  bool fail = false;
  bool fail_acks = false;

  ResultTransport transport() {
    return [this](const std::vector<messaging::OutgoingMessage>& results,
                  const std::string& acked_queue,
                  const std::vector<int64_t>& acked_ids)
               -> core::Result<messaging::BatchSentAndAcked> {
      std::unique_lock lock{mutex};
      Call call{{}, acked_queue, acked_ids};
      for (const auto& message : results)
        call.step_ids.push_back(
            channels::step_result_from_json(message.payload)->step_id);
      calls.push_back(call);
      if (hold) {
        holding = true;
        changed.notify_all();
        changed.wait(lock, [this] {
          return !hold;
        });
      }
      if (fail)
        return core::Error{core::ErrorCode::invalid_argument, "refused"};
      messaging::BatchSentAndAcked sent;
      for (std::size_t i = 0; i < results.size(); ++i)
        sent.sent_ids.push_back(static_cast<int64_t>(i));
      if (fail_acks)
        sent.acked = core::Error{core::ErrorCode::message_not_found, "gone"};
      return sent;
    };
  }

  void wait_until_holding() {
    std::unique_lock lock{mutex};
    changed.wait(lock, [this] {
      return holding;
    });
  }

  void release() {
    std::lock_guard lock{mutex};
    hold = false;
    changed.notify_all();
  }
};

// Waits (without sleeping) until `count` results wait for a call.
void wait_for_waiting(const ResultSender& sender, std::size_t count) {
  while (sender.waiting() < count)
    std::this_thread::yield();
}

} // namespace

TEST_CASE("a result alone is sent at once, in a call of its own") {
  RecordingTransport recording;
  ResultSender sender{recording.transport(), {}};
  CHECK(sender.send(result_of("s1"), "steps", 7));
  REQUIRE(recording.calls.size() == 1);
  CHECK(recording.calls[0].step_ids == std::vector<std::string>{"s1"});
  CHECK(recording.calls[0].acked_queue == "steps");
  CHECK(recording.calls[0].acked_ids == std::vector<int64_t>{7});
  CHECK(sender.calls() == 1);
}

TEST_CASE("results that finish during a call go out together in the next, "
          "one call per acked queue") {
  RecordingTransport recording;
  recording.hold = true;
  ResultSender sender{recording.transport(), {}};
  std::vector<std::thread> threads;
  std::vector<int> sent(4, -1);
  threads.emplace_back([&] {
    sent[0] = sender.send(result_of("a"), "q1", 1);
  });
  recording.wait_until_holding();
  threads.emplace_back([&] {
    sent[1] = sender.send(result_of("b"), "q1", 2);
  });
  wait_for_waiting(sender, 1);
  threads.emplace_back([&] {
    sent[2] = sender.send(result_of("c"), "q2", 3);
  });
  wait_for_waiting(sender, 2);
  threads.emplace_back([&] {
    sent[3] = sender.send(result_of("d"), "q1", 4);
  });
  wait_for_waiting(sender, 3);
  recording.release();
  for (auto& thread : threads)
    thread.join();

  CHECK(sent == std::vector<int>{1, 1, 1, 1});
  REQUIRE(recording.calls.size() == 3);
  CHECK(recording.calls[0].step_ids == std::vector<std::string>{"a"});
  // The oldest waiting result's queue first, with every result for it.
  CHECK(recording.calls[1].step_ids == std::vector<std::string>{"b", "d"});
  CHECK(recording.calls[1].acked_queue == "q1");
  CHECK(recording.calls[1].acked_ids == std::vector<int64_t>{2, 4});
  CHECK(recording.calls[2].step_ids == std::vector<std::string>{"c"});
  CHECK(recording.calls[2].acked_queue == "q2");
}

TEST_CASE("a call takes at most max_batch results") {
  RecordingTransport recording;
  recording.hold = true;
  ResultSender sender{recording.transport(), {2, 3, {}}};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    sender.send(result_of("a"), "q", 1);
  });
  recording.wait_until_holding();
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&sender, i] {
      sender.send(result_of("r" + std::to_string(i)), "q", 10 + i);
    });
    wait_for_waiting(sender, static_cast<std::size_t>(i) + 1);
  }
  recording.release();
  for (auto& thread : threads)
    thread.join();
  REQUIRE(recording.calls.size() == 3);
  CHECK(recording.calls[1].step_ids.size() == 2);
  CHECK(recording.calls[2].step_ids.size() == 1);
}

TEST_CASE("a failing send is retried, then reported unsent") {
  std::vector<std::string> errors;
  core::Logger::set_sink([&errors](core::LogLevel level, std::string_view,
                                   std::string_view message) {
    if (level == core::LogLevel::error)
      errors.emplace_back(message);
  });
  RecordingTransport recording;
  recording.fail = true;
  ResultSender sender{recording.transport(), {64, 3, {}}};
  CHECK_FALSE(sender.send(result_of("s1"), "steps", 7));
  core::Logger::set_sink({});
  CHECK(recording.calls.size() == 3);
  // The error names the step and the message left unacked.
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("step s1") != std::string::npos);
  CHECK(errors[0].find("message 7 of 'steps'") != std::string::npos);
  // `send_alone` makes one call only.
  CHECK_FALSE(sender.send_alone(result_of("s2"), "steps", 8));
  CHECK(recording.calls.size() == 4);
}

TEST_CASE("a result sent but not acked counts as sent") {
  RecordingTransport recording;
  recording.fail_acks = true;
  ResultSender sender{recording.transport(), {}};
  CHECK(sender.send(result_of("s1"), "steps", 7));
  CHECK(sender.send_alone(result_of("s2"), "steps", 8));
}
