#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace tasker::testing {

/// Waits up to `limit` for `done` to hold, checking every 10 ms; for tests
/// on real servers and threads (never in the unit tier).
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit
                       = std::chrono::seconds{20}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return true;
}

} // namespace tasker::testing
