#pragma once

#include "messaging/queued_message.hpp"

#include <functional>
#include <mutex>
#include <vector>

namespace tasker::messaging {

/// A clock that moves only when told: deterministic tests of visibility
/// timeouts and delays without sleeping. `advance` runs the registered
/// observers (the in-memory provider fires due deliveries) on the caller's
/// thread before it returns.
class ManualClock {
 public:
  explicit ManualClock(Clock::time_point start
                       = Clock::time_point{std::chrono::hours{24 * 365 * 50}})
      : now_(start) {}

  Clock::time_point now() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return now_;
  }

  /// Moves time forward and lets observers react.
  void advance(Clock::duration by) {
    std::vector<std::function<void()>> observers;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      now_ += by;
      observers = observers_;
    }
    for (auto& observer : observers)
      observer();
  }

  /// Registers a function run after every `advance`.
  void on_advance(std::function<void()> observer) {
    std::lock_guard<std::mutex> guard{mutex_};
    observers_.push_back(std::move(observer));
  }

 private:
  mutable std::mutex mutex_;
  Clock::time_point now_;
  std::vector<std::function<void()>> observers_;
};

} // namespace tasker::messaging
