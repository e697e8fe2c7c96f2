#include "orchestration/task_completion_watch.hpp"

#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace tasker::orchestration;

namespace {

using Watch = TaskCompletionWatch;

TaskSnapshot task_in(const std::string& id, TaskState state) {
  TaskSnapshot snapshot;
  snapshot.task.id = id;
  snapshot.task.state = state;
  return snapshot;
}

Watch::SteadyClock::time_point far_away() {
  return Watch::SteadyClock::now() + std::chrono::hours{1};
}

// Records what a callback was given.
struct Answers {
  std::vector<std::optional<std::string>> states;

  Watch::Callback callback() {
    return [this](std::optional<TaskSnapshot> task) {
      states.push_back(task ? std::optional<std::string>{std::string{
                           to_string(task->task.state)}}
                            : std::nullopt);
    };
  }
};

} // namespace

TEST_CASE("the completion watch answers the waiters of a task once it is "
          "final") {
  Watch watch;
  Answers first, second, other;
  watch.wait("t1", far_away(), first.callback());
  watch.wait("t1", far_away(), second.callback());
  watch.wait("t2", far_away(), other.callback());
  CHECK(watch.waiting() == 3);

  watch.report(task_in("t1", TaskState::steps_in_process));
  CHECK(first.states.empty());

  watch.report(task_in("t1", TaskState::complete));
  CHECK(first.states == std::vector<std::optional<std::string>>{"complete"});
  CHECK(second.states == std::vector<std::optional<std::string>>{"complete"});
  CHECK(other.states.empty());
  CHECK(watch.waiting() == 1);

  // Answered once: a later report finds nobody.
  watch.report(task_in("t1", TaskState::complete));
  CHECK(first.states.size() == 1);

  watch.report(task_in("t2", TaskState::error));
  CHECK(other.states == std::vector<std::optional<std::string>>{"error"});
  CHECK(watch.waiting() == 0);
}

TEST_CASE("a cancelled waiter is never called; cancel tells whether it "
          "removed one") {
  Watch watch;
  Answers answers;
  auto ticket = watch.wait("t1", far_away(), answers.callback());
  CHECK(watch.cancel(ticket));
  CHECK_FALSE(watch.cancel(ticket));
  watch.report(task_in("t1", TaskState::complete));
  CHECK(answers.states.empty());

  auto answered = watch.wait("t1", far_away(), answers.callback());
  watch.report(task_in("t1", TaskState::cancelled));
  CHECK_FALSE(watch.cancel(answered));
  CHECK(answers.states == std::vector<std::optional<std::string>>{"cancelled"});
}

TEST_CASE("a waiter whose deadline passed is answered with nothing by the "
          "watch's timer") {
  Watch watch;
  std::promise<bool> called;
  auto result = called.get_future();
  watch.wait("t1", Watch::SteadyClock::now(),
             [&](std::optional<TaskSnapshot> task) {
               called.set_value(task.has_value());
             });
  CHECK_FALSE(result.get());
  CHECK(watch.waiting() == 0);
  // Its task finishing later finds nobody.
  watch.report(task_in("t1", TaskState::complete));
}

TEST_CASE("a deadline earlier than every other one wakes the watch's timer; "
          "later ones wait their turn") {
  Watch watch;
  Answers later;
  watch.wait("t1", far_away(), later.callback());
  watch.wait("t2", far_away() + std::chrono::hours{1}, later.callback());
  std::promise<bool> called;
  auto result = called.get_future();
  watch.wait("t3", Watch::SteadyClock::now(),
             [&](std::optional<TaskSnapshot> task) {
               called.set_value(task.has_value());
             });
  CHECK_FALSE(result.get());
  CHECK(later.states.empty());
  CHECK(watch.waiting() == 2);
}

TEST_CASE("after a cancelled wait, the next wait's deadline still wakes the "
          "watch's timer") {
  Watch watch;
  auto answered_by_timer = [&](const std::string& id) {
    std::promise<bool> called;
    auto result = called.get_future();
    watch.wait(id, Watch::SteadyClock::now() + std::chrono::milliseconds{20},
               [&](std::optional<TaskSnapshot> task) {
                 called.set_value(task.has_value());
               });
    // A bound, not a pause: a lost wake-up would otherwise hang the test.
    return result.wait_for(std::chrono::seconds{10})
           == std::future_status::ready;
  };
  CHECK(answered_by_timer("t1"));
  Answers none;
  CHECK(watch.cancel(watch.wait("t2", far_away(), none.callback())));
  CHECK(answered_by_timer("t3"));
  CHECK(none.states.empty());
}

TEST_CASE("closing the watch answers every waiter with nothing and answers "
          "later waits at once") {
  Answers answers;
  {
    Watch watch;
    watch.wait("t1", far_away(), answers.callback());
    watch.wait("t2", far_away(), answers.callback());
    watch.close();
    CHECK(answers.states.size() == 2);
    CHECK_FALSE(answers.states[0].has_value());
    watch.wait("t3", far_away(), answers.callback());
    CHECK(answers.states.size() == 3);
    CHECK(watch.waiting() == 0);
  }
  // Destroying a watch with a waiter answers it too.
  Answers late;
  {
    Watch watch;
    watch.wait("t4", far_away(), late.callback());
  }
  CHECK(late.states.size() == 1);
}

TEST_CASE("a watch owned by its own waiter's callback can be released by "
          "its timer thread") {
  auto watch = std::make_shared<Watch>();
  std::promise<void> called;
  auto done = called.get_future();
  Watch* raw = watch.get();
  raw->wait("t1", Watch::SteadyClock::now(),
            [watch = std::move(watch), &called](std::optional<TaskSnapshot>) {
              called.set_value();
            });
  // The callback held the last owner: the watch goes with it, on the timer
  // thread, without a deadlock or a self-join.
  done.get();
}
