#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace tasker::worker {

/// The threads step handlers run on (so a handler never blocks an actor
/// thread). A fixed number of threads take jobs in submission order. The
/// worker submits at most its concurrency in jobs at once, so the queue
/// stays bounded. A job submitted by a job of the pool runs at once, inside
/// `submit`, on the submitting thread: the claim that hands a step's
/// handler on keeps its thread instead of waking another one. Destroying the
/// pool lets the threads finish the job they run and exit; it does not wait for
/// them, so a handler stuck past its timeout cannot hang shutdown.
class HandlerPool {
 public:
  explicit HandlerPool(std::size_t threads);
  ~HandlerPool();

  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  /// Queues `job` for the next free thread; runs it here when called from
  /// one of this pool's threads.
  void submit(std::function<void()> job);

  std::size_t threads() const noexcept {
    return threads_;
  }

 private:
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<void()>> jobs;
    bool stopping = false;
  };

  static void work(std::shared_ptr<Shared> shared);

  std::size_t threads_;
  std::shared_ptr<Shared> shared_;
};

} // namespace tasker::worker
