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

HandlerPool::HandlerPool(std::size_t threads)
    : threads_(threads == 0 ? 1 : threads),
      shared_(std::make_shared<Shared>()) {
  for (std::size_t i = 0; i < threads_; ++i)
    std::thread{work, shared_}.detach();
}

HandlerPool::~HandlerPool() {
  {
    std::lock_guard<std::mutex> guard{shared_->mutex};
    shared_->stopping = true;
    shared_->jobs.clear();
  }
  shared_->wake.notify_all();
}

void HandlerPool::submit(std::function<void()> job) {
  if (running_pool == shared_.get()) {
    run(job);
    return;
  }
  {
    std::lock_guard<std::mutex> guard{shared_->mutex};
    shared_->jobs.push_back(std::move(job));
  }
  shared_->wake.notify_one();
}

void HandlerPool::work(std::shared_ptr<Shared> shared) {
  running_pool = shared.get();
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock{shared->mutex};
      shared->wake.wait(lock, [&] {
        return shared->stopping || !shared->jobs.empty();
      });
      if (shared->stopping)
        return;
      job = std::move(shared->jobs.front());
      shared->jobs.pop_front();
    }
    run(job);
  }
}

} // namespace tasker::worker
