#pragma once

#include "orchestration/task_records.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace tasker::orchestration {

/// Lets callers wait for tasks to reach a final state without polling the
/// store: the task store handle reports every task a change applied
/// through this node leaves final, and each waiter's callback runs once,
/// with that task, or with nothing at its deadline or when the watch
/// closes. Thread-safe; callbacks run on the reporting thread (a store
/// caller) or on the watch's timer thread, outside its lock.
class TaskCompletionWatch {
 public:
  using SteadyClock = std::chrono::steady_clock;
  /// The final task, or nothing (deadline, closed watch, cancelled).
  using Callback = std::function<void(std::optional<TaskSnapshot>)>;

  TaskCompletionWatch();

  /// Closes the watch.
  ~TaskCompletionWatch();

  TaskCompletionWatch(const TaskCompletionWatch&) = delete;
  TaskCompletionWatch& operator=(const TaskCompletionWatch&) = delete;

  /// Registers `done` for task `task_id` until `deadline`; returns the
  /// ticket that `cancel` takes. On a closed watch `done` runs at once,
  /// with nothing.
  uint64_t wait(const std::string& task_id, SteadyClock::time_point deadline,
                Callback done);

  /// Removes a waiter without calling it; false when it ran or was
  /// removed already.
  bool cancel(uint64_t ticket);

  /// Runs the callbacks waiting for `task` when its state is final.
  void report(const TaskSnapshot& task);

  /// Runs every waiting callback with nothing and refuses new waits (a
  /// node shutting down answers its long polls at once).
  void close();

  /// How many callbacks wait.
  std::size_t waiting() const;

 private:
  // Shared with the timer thread, which may outlive the watch when its
  // last owner was a callback the thread ran.
  struct State;

  std::shared_ptr<State> state_;
  std::thread timer_;
  std::once_flag timer_started_;
};

} // namespace tasker::orchestration
