#include "channels/local_first_policy.hpp"

namespace tasker::channels {

void LocalFirstPolicy::share(coordinator_data& shared, caf::resumable* job) {
  {
    std::lock_guard<std::mutex> guard{shared.lock};
    shared.queue.push_back(job);
    shared.queued.store(shared.queue.size(), std::memory_order_relaxed);
  }
  shared.ready.notify_one();
}

caf::resumable* LocalFirstPolicy::take(coordinator_data& shared) {
  std::unique_lock<std::mutex> guard{shared.lock};
  shared.ready.wait(guard, [&] {
    return !shared.queue.empty();
  });
  auto* job = shared.queue.front();
  shared.queue.pop_front();
  shared.queued.store(shared.queue.size(), std::memory_order_relaxed);
  return job;
}

caf::resumable* LocalFirstPolicy::exchange_oldest(coordinator_data& shared,
                                                  caf::resumable* job) {
  caf::resumable* oldest = nullptr;
  {
    std::lock_guard<std::mutex> guard{shared.lock};
    if (shared.queue.empty())
      return job;
    oldest = shared.queue.front();
    shared.queue.pop_front();
    shared.queue.push_back(job);
  }
  // The job put back may be taken by an idle thread.
  shared.ready.notify_one();
  return oldest;
}

} // namespace tasker::channels
