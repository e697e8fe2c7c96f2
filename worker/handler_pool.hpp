#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace tasker::worker {

/// The threads step handlers run on (so a handler never blocks an actor
/// thread). A fixed number of threads take jobs in submission order. The
/// worker submits at most its concurrency in jobs at once, so the queue
/// stays bounded. A job goes to the thread that went idle last: its stack
/// and caches are still warm, and the others keep sleeping. A job
/// submitted by a job of the pool runs at once, inside `submit`, on the
/// submitting thread: the claim that hands a step's handler on keeps its
/// thread instead of waking another one. Destroying the pool lets the
/// threads finish the job they run and exit; it does not wait for them, so
/// a handler stuck past its timeout cannot hang shutdown.
class HandlerPool {
 public:
  explicit HandlerPool(std::size_t threads);
  ~HandlerPool();

  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  /// Hands `job` to the thread that went idle last, else queues it for the
  /// next free one; runs it here when called from one of this pool's
  /// threads.
  void submit(std::function<void()> job);

  std::size_t threads() const noexcept {
    return threads_;
  }

  /// Threads sleeping for want of a job.
  std::size_t idle_threads() const;

 private:
  /// One thread's mailbox while it sleeps.
  struct Slot {
    std::condition_variable wake;
    std::function<void()> job;
  };

  struct Shared {
    explicit Shared(std::size_t threads);

    std::mutex mutex;
    /// One per thread, owned here so a submitter may wake one after
    /// unlocking while its thread is exiting.
    std::vector<std::unique_ptr<Slot>> slots;
    /// The sleeping threads' slots, the last one to go idle at the back.
    std::vector<Slot*> idle;
    std::deque<std::function<void()>> jobs;
    bool stopping = false;
  };

  static void work(std::shared_ptr<Shared> shared, Slot* slot);

  std::size_t threads_;
  std::shared_ptr<Shared> shared_;
};

} // namespace tasker::worker
