#pragma once

#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>

namespace tasker::channels {

/// A CAF scheduling policy: work sharing (one queue for all scheduler
/// threads, an idle thread woken for each job put there), except that an
/// actor made ready by the actor a scheduler thread is running runs next on
/// that same thread instead of waking another one.
///
/// A step hands its work from actor to actor along a chain (event system,
/// processor, shard, relay); under work sharing each link woke the other
/// thread while this one went to sleep, ~30 us of CPU per wake-up under a
/// hypervisor. A thread keeps one such job: a second one readied before it
/// ran goes to the shared queue, waking an idle thread, so actors that
/// fan out still run in parallel. The actors run this way never block
/// (those that wait on a server are detached), so a kept job waits at most
/// for the end of the running actor's turn. After `kLocalRunLimit` kept
/// jobs in a row a thread takes the shared queue's oldest job first, so a
/// chain of actors that never ends cannot starve the others.
class LocalFirstPolicy : public caf::policy::unprofiled {
 public:
  static constexpr int kLocalRunLimit = 8;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}

    std::mutex lock;
    std::condition_variable ready;
    std::deque<caf::resumable*> queue;
    /// The queue's length, read without the lock.
    std::atomic<std::size_t> queued{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}

    /// The job the running actor made ready, to run next on this thread.
    caf::resumable* next = nullptr;
    /// Kept jobs run in a row since the last one from the shared queue.
    int local_runs = 0;
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    share(d(self), job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    share(d(self->parent()), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    auto& local = d(self);
    if (local.next != nullptr)
      share(d(self->parent()), local.next);
    local.next = job;
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    share(d(self->parent()), job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& local = d(self);
    auto& shared = d(self->parent());
    if (local.next != nullptr) {
      if (local.local_runs < kLocalRunLimit
          || shared.queued.load(std::memory_order_relaxed) == 0) {
        ++local.local_runs;
        return std::exchange(local.next, nullptr);
      }
      local.local_runs = 0;
      return exchange_oldest(shared, std::exchange(local.next, nullptr));
    }
    local.local_runs = 0;
    return take(shared);
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    if (auto* job = std::exchange(d(self).next, nullptr))
      f(job);
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    std::deque<caf::resumable*> jobs;
    {
      std::lock_guard<std::mutex> guard{d(self).lock};
      jobs.swap(d(self).queue);
      d(self).queued.store(0, std::memory_order_relaxed);
    }
    for (auto* job : jobs)
      f(job);
  }

 private:
  /// Appends `job` to the shared queue and wakes an idle thread for it.
  static void share(coordinator_data& shared, caf::resumable* job);

  /// The shared queue's oldest job, waiting for one while it is empty.
  static caf::resumable* take(coordinator_data& shared);

  /// The shared queue's oldest job, `job` appended in its place.
  static caf::resumable* exchange_oldest(coordinator_data& shared,
                                         caf::resumable* job);
};

} // namespace tasker::channels
