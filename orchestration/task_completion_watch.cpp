#include "orchestration/task_completion_watch.hpp"

#include "orchestration/task_state_machine.hpp"

#include <condition_variable>
#include <map>
#include <set>
#include <vector>

namespace tasker::orchestration {

struct TaskCompletionWatch::State {
  struct Waiter {
    std::string task_id;
    SteadyClock::time_point deadline;
    Callback done;
  };

  std::mutex mutex;
  std::condition_variable changed;
  std::map<uint64_t, Waiter> waiters;
  std::multimap<std::string, uint64_t> by_task;
  std::set<std::pair<SteadyClock::time_point, uint64_t>> by_deadline;
  uint64_t next_ticket = 1;
  bool closed = false;
  // The deadline the timer thread sleeps until: only an earlier one needs
  // to wake it (a wake-up per long poll otherwise, as the previous poll's
  // deadline usually outlives its waiter).
  SteadyClock::time_point sleeping_until = SteadyClock::time_point::max();

  // Removes a waiter (the lock held) and returns its callback.
  Callback take(std::map<uint64_t, Waiter>::iterator waiter) {
    auto [first, last] = by_task.equal_range(waiter->second.task_id);
    for (auto it = first; it != last; ++it)
      if (it->second == waiter->first) {
        by_task.erase(it);
        break;
      }
    by_deadline.erase({waiter->second.deadline, waiter->first});
    auto done = std::move(waiter->second.done);
    waiters.erase(waiter);
    return done;
  }

  void run_timer() {
    std::unique_lock<std::mutex> lock{mutex};
    while (!closed) {
      if (by_deadline.empty()) {
        sleeping_until = SteadyClock::time_point::max();
        changed.wait(lock);
        continue;
      }
      auto [deadline, ticket] = *by_deadline.begin();
      if (SteadyClock::now() < deadline) {
        sleeping_until = deadline;
        changed.wait_until(lock, deadline);
        continue;
      }
      {
        auto done = take(waiters.find(ticket));
        lock.unlock();
        done(std::nullopt);
      }
      lock.lock();
    }
  }
};

TaskCompletionWatch::TaskCompletionWatch()
    : state_(std::make_shared<State>()) {}

TaskCompletionWatch::~TaskCompletionWatch() {
  close();
  if (!timer_.joinable())
    return;
  if (timer_.get_id() == std::this_thread::get_id())
    timer_.detach();
  else
    timer_.join();
}

uint64_t TaskCompletionWatch::wait(const std::string& task_id,
                                   SteadyClock::time_point deadline,
                                   Callback done) {
  std::unique_lock<std::mutex> lock{state_->mutex};
  if (state_->closed) {
    lock.unlock();
    done(std::nullopt);
    return 0;
  }
  auto ticket = state_->next_ticket++;
  state_->waiters.emplace(ticket,
                          State::Waiter{task_id, deadline, std::move(done)});
  state_->by_task.emplace(task_id, ticket);
  state_->by_deadline.emplace(deadline, ticket);
  auto earlier = deadline < state_->sleeping_until;
  lock.unlock();
  std::call_once(timer_started_, [this] {
    timer_ = std::thread{[state = state_] {
      state->run_timer();
    }};
  });
  if (earlier)
    state_->changed.notify_one();
  return ticket;
}

bool TaskCompletionWatch::cancel(uint64_t ticket) {
  Callback done;
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    auto waiter = state_->waiters.find(ticket);
    if (waiter == state_->waiters.end())
      return false;
    done = state_->take(waiter);
  }
  return true;
}

void TaskCompletionWatch::report(const TaskSnapshot& task) {
  if (!is_terminal(task.task.state))
    return;
  std::vector<Callback> due;
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    auto [first, last] = state_->by_task.equal_range(task.task.id);
    std::vector<uint64_t> tickets;
    for (auto it = first; it != last; ++it)
      tickets.push_back(it->second);
    for (auto ticket : tickets)
      due.push_back(state_->take(state_->waiters.find(ticket)));
  }
  for (auto& done : due)
    done(task);
}

void TaskCompletionWatch::close() {
  std::map<uint64_t, State::Waiter> all;
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->closed = true;
    all = std::exchange(state_->waiters, {});
    state_->by_task.clear();
    state_->by_deadline.clear();
  }
  state_->changed.notify_one();
  for (auto& [ticket, waiter] : all)
    waiter.done(std::nullopt);
}

std::size_t TaskCompletionWatch::waiting() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->waiters.size();
}

} // namespace tasker::orchestration
