#include "worker/handler_pool.hpp"

#include "core/logger.hpp"

#include <exception>
#include <thread>

namespace tasker::worker {

namespace {

/// The pool whose job the current thread runs, if any.
thread_local const void* running_pool = nullptr;

void run(const std::function<void()>& job) {
  // Jobs catch what handlers throw; this guards the thread itself.
  try {
    job();
  } catch (const std::exception& e) {
    core::log_error("handler pool", std::string{"a job threw: "} + e.what());
  }
}

} // namespace

HandlerPool::Shared::Shared(std::size_t threads) {
  slots.reserve(threads);
  idle.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i)
    slots.push_back(std::make_unique<Slot>());
}

HandlerPool::HandlerPool(std::size_t threads)
    : threads_(threads == 0 ? 1 : threads),
      shared_(std::make_shared<Shared>(threads_)) {
  for (auto& slot : shared_->slots)
    std::thread{work, shared_, slot.get()}.detach();
}

HandlerPool::~HandlerPool() {
  std::vector<Slot*> sleeping;
  {
    std::lock_guard<std::mutex> guard{shared_->mutex};
    shared_->stopping = true;
    shared_->jobs.clear();
    sleeping.swap(shared_->idle);
  }
  for (auto* slot : sleeping)
    slot->wake.notify_one();
}

void HandlerPool::submit(std::function<void()> job) {
  if (running_pool == shared_.get()) {
    run(job);
    return;
  }
  Slot* woken = nullptr;
  {
    std::lock_guard<std::mutex> guard{shared_->mutex};
    if (shared_->idle.empty()) {
      shared_->jobs.push_back(std::move(job));
      return;
    }
    woken = shared_->idle.back();
    shared_->idle.pop_back();
    woken->job = std::move(job);
  }
  woken->wake.notify_one();
}

std::size_t HandlerPool::idle_threads() const {
  std::lock_guard<std::mutex> guard{shared_->mutex};
  return shared_->idle.size();
}

void HandlerPool::work(std::shared_ptr<Shared> shared, Slot* slot) {
  running_pool = shared.get();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock{shared->mutex};
      if (!shared->stopping && shared->jobs.empty()) {
        shared->idle.push_back(slot);
        slot->wake.wait(lock, [&] {
          return shared->stopping || slot->job;
        });
      }
      if (shared->stopping)
        return;
      if (slot->job) {
        job = std::move(slot->job);
        slot->job = nullptr;
      } else {
        job = std::move(shared->jobs.front());
        shared->jobs.pop_front();
      }
    }
    run(job);
  }
}

} // namespace tasker::worker
