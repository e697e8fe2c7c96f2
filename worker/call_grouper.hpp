#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tasker::worker {

/// Groups blocking calls that threads make at the same time (group
/// commit): a thread that finds no call under way makes one for every item
/// waiting with the same key as the oldest waiting item, its own included,
/// up to `max_batch`; a thread that finds one under way waits, and the
/// next call is made by the oldest waiting thread. Alone, an item goes out
/// at once. A call wakes only the threads it answered and the next caller:
/// on this hypervisor every needless wake-up costs tens of microseconds.
/// Thread-safe.
template <class Item, class Outcome>
class CallGrouper {
 public:
  /// One call for `items`, all with `key`: one outcome per item, in order.
  /// It must not throw.
  using Call = std::function<std::vector<Outcome>(const std::string& key,
                                                  std::vector<Item> items)>;

  CallGrouper(Call call, std::size_t max_batch)
      : call_(std::move(call)), max_batch_(max_batch < 1 ? 1 : max_batch) {}

  /// Blocks until a call made for `item` returned; its outcome.
  Outcome submit(std::string key, Item item) {
    // Shared with the caller that answers it, which wakes it after
    // unlocking: a thread woken under the lock would block again at once on
    // the lock, a second sleep and wake-up per item.
    auto pending = std::make_shared<Pending>();
    pending->key = std::move(key);
    pending->item = std::move(item);
    std::unique_lock lock{mutex_};
    waiting_.push_back(pending);
    while (!pending->outcome) {
      if (calling_) {
        pending->wake.wait(lock);
        continue;
      }
      calling_ = true;
      ++calls_;
      auto batch = take_batch();
      std::vector<Item> items;
      for (const auto& taken : batch)
        items.push_back(std::move(taken->item));
      lock.unlock();
      // An exception (or too few outcomes) would leave the waiting threads
      // waiting forever: it ends the process instead.
      auto outcomes = [&]() noexcept {
        auto out = call_(batch.front()->key, std::move(items));
        static_cast<void>(out.at(batch.size() - 1));
        return out;
      }();
      lock.lock();
      bool mine = false;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        batch[i]->outcome = std::move(outcomes[i]);
        mine = mine || batch[i] == pending;
      }
      calling_ = false;
      auto next = waiting_.empty() ? nullptr : waiting_.front();
      lock.unlock();
      for (const auto& answered : batch)
        if (answered != pending)
          answered->wake.notify_one();
      if (next != nullptr && next != pending)
        next->wake.notify_one();
      // An answered item left the queue: nobody else touches it now.
      if (mine)
        return std::move(*pending->outcome);
      lock.lock();
    }
    return std::move(*pending->outcome);
  }

  /// Items waiting for a call to take them.
  std::size_t waiting() const {
    std::lock_guard lock{mutex_};
    return waiting_.size();
  }

  /// Calls made so far.
  uint64_t calls() const {
    std::lock_guard lock{mutex_};
    return calls_;
  }

 private:
  struct Pending {
    std::string key;
    Item item;
    std::optional<Outcome> outcome;
    std::condition_variable wake;
  };

  // The oldest waiting item and those after it with its key, up to
  // `max_batch_`.
  std::vector<std::shared_ptr<Pending>> take_batch() {
    std::vector<std::shared_ptr<Pending>> batch;
    const auto key = waiting_.front()->key;
    for (auto i = waiting_.begin();
         i != waiting_.end() && batch.size() < max_batch_;) {
      if ((*i)->key == key) {
        batch.push_back(*i);
        i = waiting_.erase(i);
      } else {
        ++i;
      }
    }
    return batch;
  }

  Call call_;
  std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::deque<std::shared_ptr<Pending>> waiting_;
  bool calling_ = false;
  uint64_t calls_ = 0;
};

} // namespace tasker::worker
