#include "messaging/in_memory/in_memory_provider.hpp"

#include "messaging/provider_checks.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace tasker::messaging {

namespace {

using core::Error;
using core::ErrorCode;
using TimePoint = Clock::time_point;

constexpr std::string_view kComponent = "in_memory";
constexpr std::string_view kMaxDeliveriesReason = "max_deliveries_exceeded";

struct Subscriber;

/// A stored message.
struct Entry {
  TimePoint enqueued_at;
  TimePoint visible_at;
  int32_t delivery_count = 0;
  /// In `Queue::ready`; otherwise in `Queue::pending`.
  bool ready = false;
  /// Announce it when it becomes visible (notify and signal modes).
  bool announce = false;
  /// The subscriber a leased push handed it to, until ack, nack or expiry.
  Subscriber* owner = nullptr;
  std::string payload;
  Headers headers;
};

/// A queue: its messages by id and by visibility, and its subscribers.
struct Queue {
  std::string name;
  bool dead_letter_queue = false;
  int64_t next_id = 1;
  int64_t total_sent = 0;
  /// All messages by id; the first is the oldest.
  std::map<int64_t, Entry> messages;
  /// Ids of the visible messages: receive takes them in this (FIFO) order.
  std::set<int64_t> ready;
  /// Delayed or leased messages by the time they become visible.
  std::set<std::pair<TimePoint, int64_t>> pending;
  std::vector<std::shared_ptr<Subscriber>> subscribers;
  /// Round robin position in `subscribers` (leased_message mode).
  std::size_t next_subscriber = 0;
  /// Listed in the running operation's `Effects::dirty`.
  bool dirty = false;
};

/// A message leased to a subscriber by a push.
struct Lease {
  Queue* queue;
  int64_t id;
};

struct LeaseLess {
  bool operator()(const Lease& a, const Lease& b) const {
    if (a.queue != b.queue)
      return std::less<Queue*>{}(a.queue, b.queue);
    return a.id < b.id;
  }
};

struct Subscriber {
  NotificationHandler handler;
  std::vector<Queue*> queues;
  /// Pushed, not yet acked, nacked or expired: its used prefetch.
  std::set<Lease, LeaseLess> leases;
  /// Notifications not yet handed to the handler, in delivery order.
  std::deque<MessageNotification> outbox;
  bool cancelled = false;
  /// A thread is handing out `outbox` (one at a time keeps the order).
  bool draining = false;
  std::thread::id drainer;
  /// Cancelled inside its own handler: the drainer drops the handler after
  /// the call returns.
  bool drop_after_call = false;
  /// Listed in the running operation's `Effects::woken`.
  bool woken = false;
};

/// What an operation left to do once the mutations are made: queues whose
/// visible messages may now be pushed, subscribers with new notifications.
struct Effects {
  std::vector<Queue*> dirty;
  std::vector<std::shared_ptr<Subscriber>> woken;
};

/// Runs `f`, turning any exception into an `internal` error naming the
/// operation and its queue.
template <class F>
auto guarded(std::string_view operation, std::string_view queue, F&& f)
    -> decltype(f()) {
  auto fail = [&](std::string_view what) {
    auto message = "in-memory " + std::string{operation};
    if (!queue.empty())
      message += " on queue '" + std::string{queue} + "'";
    return Error{ErrorCode::internal,
                 message + " failed: " + std::string{what}};
  };
  try {
    return f();
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception");
  }
}

/// The queues and subscriptions: everything the handles, the timer thread
/// and the subscriptions share. One mutex guards it all; handlers run
/// without it.
class Broker : public std::enable_shared_from_this<Broker> {
 public:
  explicit Broker(InMemoryOptions options) : options_(std::move(options)) {}

  // -- queue lifecycle --

  core::Result<void> create_queue(const std::string& queue) {
    if (auto valid = check_creatable(queue); !valid)
      return valid;
    return transact([&](TimePoint, Effects&) {
      create(queue);
      return core::Result<void>{};
    });
  }

  core::Result<void> delete_queue(const std::string& queue) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    return transact([&](TimePoint, Effects& fx) -> core::Result<void> {
      auto it = queues_.find(queue);
      if (it == queues_.end())
        return queue_not_found(queue);
      drop(it, fx);
      if (!is_dead_letter_queue(queue))
        if (auto dlq = queues_.find(config::dead_letter_queue_name(queue));
            dlq != queues_.end())
          drop(dlq, fx);
      return {};
    });
  }

  core::Result<bool> queue_exists(const std::string& queue) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    std::lock_guard<std::mutex> guard{mutex_};
    return queues_.contains(queue);
  }

  core::Result<std::vector<std::string>> list_queues() {
    std::vector<std::string> names;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      names.reserve(queues_.size());
      for (const auto& [name, queue] : queues_)
        names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  core::Result<void> ensure_queues(const std::vector<std::string>& queues) {
    for (const auto& queue : queues)
      if (auto valid = check_creatable(queue); !valid)
        return valid;
    return transact([&](TimePoint, Effects&) {
      for (const auto& queue : queues)
        create(queue);
      return core::Result<void>{};
    });
  }

  core::Result<QueueHealthReport>
  verify_queues(const std::vector<std::string>& queues) {
    std::vector<std::string> checked;
    for (const auto& queue : queues) {
      checked.push_back(queue);
      if (config::validate_queue_name(queue) && !is_dead_letter_queue(queue))
        checked.push_back(config::dead_letter_queue_name(queue));
    }
    QueueHealthReport report;
    std::set<std::string_view> seen;
    std::lock_guard<std::mutex> guard{mutex_};
    for (const auto& queue : checked) {
      if (!seen.insert(queue).second)
        continue;
      if (auto valid = config::validate_queue_name(queue); !valid)
        report.errors.emplace_back(queue, valid.error().message());
      else if (queues_.contains(queue))
        report.healthy.push_back(queue);
      else
        report.missing.push_back(queue);
    }
    return report;
  }

  // -- messages --

  core::Result<int64_t> send(const std::string& queue,
                             const OutgoingMessage& message) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (auto fits = check_size(queue, message, options_.max_message_size);
        !fits)
      return fits.error();
    return transact([&](TimePoint now, Effects& fx) -> core::Result<int64_t> {
      auto q = find(queue);
      if (!q)
        return queue_not_found(queue);
      return insert(*q, message.payload, message.headers, message.delay, now,
                    fx);
    });
  }

  core::Result<std::vector<int64_t>>
  send_batch(const std::string& queue,
             const std::vector<OutgoingMessage>& messages) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (messages.empty())
      return Error{ErrorCode::invalid_argument,
                   "send_batch to queue '" + queue + "' got no messages"};
    for (std::size_t i = 0; i < messages.size(); ++i)
      if (auto fits = check_size(queue, messages[i], options_.max_message_size);
          !fits)
        return Error{fits.error().code(),
                     "message " + std::to_string(i + 1)
                         + " of the batch: " + fits.error().message()};
    return transact(
        [&](TimePoint now, Effects& fx) -> core::Result<std::vector<int64_t>> {
          auto q = find(queue);
          if (!q)
            return queue_not_found(queue);
          std::vector<int64_t> ids;
          ids.reserve(messages.size());
          for (const auto& message : messages)
            ids.push_back(insert(*q, message.payload, message.headers,
                                 message.delay, now, fx));
          return ids;
        });
  }

  core::Result<std::vector<QueuedMessage>>
  receive(const std::string& queue, int32_t limit,
          std::chrono::seconds visibility_timeout) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (limit < 1)
      return Error{ErrorCode::invalid_argument,
                   "receive from queue '" + queue + "': limit "
                       + std::to_string(limit) + " is below 1"};
    if (auto valid = check_timeout(queue, "receive", visibility_timeout);
        !valid)
      return valid.error();
    return transact([&](TimePoint now, Effects& fx)
                        -> core::Result<std::vector<QueuedMessage>> {
      auto q = find(queue);
      if (!q)
        return queue_not_found(queue);
      promote(*q, now, fx);
      std::vector<QueuedMessage> out;
      out.reserve(std::min(static_cast<std::size_t>(limit), q->ready.size()));
      while (out.size() < static_cast<std::size_t>(limit)
             && !q->ready.empty()) {
        auto it = q->messages.find(*q->ready.begin());
        if (exhausted(*q, it->second)) {
          dead_letter(*q, it, kMaxDeliveriesReason, now, fx);
          continue;
        }
        lease(*q, it->first, it->second, now + visibility_timeout);
        out.push_back(snapshot(*q, it->first, it->second, true));
      }
      return out;
    });
  }

  core::Result<std::optional<QueuedMessage>>
  read_by_id(const std::string& queue, int64_t id,
             std::chrono::seconds visibility_timeout) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (auto valid = check_timeout(queue, "read_by_id", visibility_timeout);
        !valid)
      return valid.error();
    return transact(
        [&](TimePoint now,
            Effects& fx) -> core::Result<std::optional<QueuedMessage>> {
          auto q = find(queue);
          if (!q)
            return queue_not_found(queue);
          promote(*q, now, fx);
          auto it = q->messages.find(id);
          if (it == q->messages.end() || !it->second.ready)
            return std::optional<QueuedMessage>{};
          if (exhausted(*q, it->second)) {
            dead_letter(*q, it, kMaxDeliveriesReason, now, fx);
            return std::optional<QueuedMessage>{};
          }
          lease(*q, id, it->second, now + visibility_timeout);
          return std::optional{snapshot(*q, id, it->second, true)};
        });
  }

  core::Result<void> ack(const std::string& queue, int64_t id) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    return transact([&](TimePoint, Effects& fx) -> core::Result<void> {
      auto q = find(queue);
      if (!q)
        return queue_not_found(queue);
      auto it = q->messages.find(id);
      if (it == q->messages.end())
        return message_not_found(queue, id);
      remove(*q, it, fx);
      return {};
    });
  }

  core::Result<void> ack_batch(const std::string& queue,
                               const std::vector<int64_t>& ids) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    return transact([&](TimePoint, Effects& fx) -> core::Result<void> {
      auto q = find(queue);
      if (!q)
        return queue_not_found(queue);
      for (auto id : ids)
        if (auto it = q->messages.find(id); it != q->messages.end())
          remove(*q, it, fx);
      return {};
    });
  }

  core::Result<void> nack(const std::string& queue, int64_t id,
                          const NackAction& action) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    const bool to_dead_letter = action.kind == NackAction::Kind::dead_letter;
    if (to_dead_letter && is_dead_letter_queue(queue))
      return Error{ErrorCode::invalid_argument,
                   "cannot dead-letter message " + std::to_string(id)
                       + " of queue '" + queue
                       + "': it is a dead-letter queue already"};
    return transact([&](TimePoint now, Effects& fx) -> core::Result<void> {
      auto q = find(queue);
      if (!q)
        return queue_not_found(queue);
      auto it = q->messages.find(id);
      if (it == q->messages.end())
        return message_not_found(queue, id);
      if (to_dead_letter) {
        dead_letter(*q, it, action.reason, now, fx);
        return {};
      }
      auto& entry = it->second;
      release(*q, id, entry, fx);
      entry.announce = announces();
      place(*q, id, entry,
            now + std::max(action.delay, std::chrono::milliseconds{}), now, fx);
      return {};
    });
  }

  core::Result<void> extend_visibility(const std::string& queue, int64_t id,
                                       std::chrono::seconds timeout) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    if (auto valid = check_timeout(queue, "extend_visibility", timeout); !valid)
      return valid;
    return transact([&](TimePoint now, Effects& fx) -> core::Result<void> {
      auto q = find(queue);
      if (!q)
        return queue_not_found(queue);
      auto it = q->messages.find(id);
      if (it == q->messages.end())
        return message_not_found(queue, id);
      place(*q, id, it->second, now + timeout, now, fx);
      return {};
    });
  }

  core::Result<QueueMetrics> metrics(const std::string& queue) {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    return transact(
        [&](TimePoint now, Effects& fx) -> core::Result<QueueMetrics> {
          auto q = find(queue);
          if (!q)
            return queue_not_found(queue);
          promote(*q, now, fx);
          QueueMetrics out;
          out.queue = queue;
          out.depth = static_cast<int64_t>(q->messages.size());
          out.visible_depth = static_cast<int64_t>(q->ready.size());
          if (!q->messages.empty())
            out.oldest_message_age
                = std::max(std::chrono::seconds{},
                           std::chrono::duration_cast<std::chrono::seconds>(
                               now - q->messages.begin()->second.enqueued_at));
          out.total_sent = q->total_sent;
          return out;
        });
  }

  // -- push --

  core::Result<Subscription>
  subscribe_many(const std::vector<std::string>& queues,
                 NotificationHandler handler) {
    if (queues.empty())
      return Error{ErrorCode::invalid_argument,
                   "a subscription needs at least one queue"};
    for (const auto& queue : queues)
      if (auto valid = config::validate_queue_name(queue); !valid)
        return valid.error();
    if (!handler)
      return Error{ErrorCode::invalid_argument, "the subscription to queue '"
                                                    + queues.front()
                                                    + "' has no handler"};
    return transact(
        [&](TimePoint now, Effects& fx) -> core::Result<Subscription> {
          std::vector<Queue*> targets;
          for (const auto& queue : queues) {
            auto q = find(queue);
            if (!q)
              return queue_not_found(queue);
            if (std::find(targets.begin(), targets.end(), q) == targets.end())
              targets.push_back(q);
          }
          auto sub = std::make_shared<Subscriber>();
          sub->handler = std::move(handler);
          sub->queues = targets;
          for (auto q : targets) {
            q->subscribers.push_back(sub);
            promote(*q, now, fx);
            mark_dirty(*q, fx);
            if (!q->pending.empty())
              schedule_wakeup(*q, q->pending.begin()->first);
          }
          return Subscription{[broker = weak_from_this(), sub] {
            if (auto self = broker.lock())
              self->cancel(sub);
          }};
        });
  }

  /// Stops the deliveries to `sub`; see `Subscription`. Leases it holds
  /// become visible at once, and pushes it never handed to its handler do
  /// not count as deliveries.
  void cancel(const std::shared_ptr<Subscriber>& sub) {
    Effects fx;
    NotificationHandler dropped;
    std::unique_lock<std::mutex> lock{mutex_};
    if (sub->cancelled)
      return;
    sub->cancelled = true;
    for (auto q : sub->queues)
      detach(*q, *sub);
    // Before any wait: a queue deleted meanwhile no longer knows `sub`.
    sub->queues.clear();
    if (sub->draining && sub->drainer == std::this_thread::get_id()) {
      sub->drop_after_call = true;
    } else {
      drained_.wait(lock, [&] {
        return !sub->draining;
      });
      dropped = std::exchange(sub->handler, nullptr);
    }
    const auto now = this->now();
    for (const auto& notification : sub->outbox)
      if (auto pushed = std::get_if<Message>(&notification))
        uncount(*sub, pushed->message);
    sub->outbox.clear();
    for (auto [q, id] : sub->leases) {
      auto& entry = q->messages.find(id)->second;
      entry.owner = nullptr;
      place(*q, id, entry, now, now, fx);
    }
    sub->leases.clear();
    settle(now, fx);
    lock.unlock();
    deliver(fx);
  }

  // -- time --

  /// Delivers what became due (the manual clock moved).
  void on_time_passed() {
    Effects fx;
    std::unique_lock<std::mutex> lock{mutex_};
    const auto now = this->now();
    fire_due(now, fx);
    settle(now, fx);
    lock.unlock();
    deliver(fx);
  }

  /// The timer thread: delivers what becomes due, sleeping in between,
  /// until `stop`.
  void run_timer() {
    std::unique_lock<std::mutex> lock{mutex_};
    while (!stopping_) {
      Effects fx;
      const auto now = this->now();
      fire_due(now, fx);
      settle(now, fx);
      if (!fx.woken.empty()) {
        // Awake: nobody needs to wake us for a sooner deadline.
        wake_at_ = TimePoint::min();
        lock.unlock();
        deliver(fx);
        lock.lock();
        continue;
      }
      wake_at_ = next_due();
      if (wake_at_ == TimePoint::max())
        timer_wakeup_.wait(lock);
      else
        timer_wakeup_.wait_until(lock, wake_at_);
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stopping_ = true;
    }
    timer_wakeup_.notify_all();
  }

  const InMemoryOptions& options() const {
    return options_;
  }

 private:
  TimePoint now() const {
    return options_.manual_clock ? options_.manual_clock->now() : Clock::now();
  }

  bool announces() const {
    return options_.push_mode != InMemoryPushMode::leased_message;
  }

  /// Runs the mutation `f(now, effects)` under the lock, pushes what it
  /// made pushable, then hands out the notifications without the lock.
  template <class F>
  std::invoke_result_t<F&, TimePoint, Effects&> transact(F&& f) {
    Effects fx;
    std::unique_lock<std::mutex> lock{mutex_};
    const auto now = this->now();
    auto result = f(now, fx);
    settle(now, fx);
    lock.unlock();
    deliver(fx);
    return result;
  }

  Queue* find(const std::string& queue) {
    auto it = queues_.find(queue);
    return it == queues_.end() ? nullptr : &it->second;
  }

  Queue& ensure(const std::string& queue) {
    auto [it, added] = queues_.try_emplace(queue);
    if (added) {
      it->second.name = queue;
      it->second.dead_letter_queue = is_dead_letter_queue(queue);
    }
    return it->second;
  }

  void create(const std::string& queue) {
    ensure(queue);
    if (!is_dead_letter_queue(queue))
      ensure(config::dead_letter_queue_name(queue));
  }

  /// Deletes a queue with its messages, freeing the prefetch they held.
  void drop(std::unordered_map<std::string, Queue>::iterator it, Effects& fx) {
    auto& q = it->second;
    for (auto& sub : q.subscribers)
      std::erase(sub->queues, &q);
    q.subscribers.clear();
    for (auto& [id, entry] : q.messages)
      release(q, id, entry, fx);
    std::erase(fx.dirty, &q);
    queues_.erase(it);
  }

  void detach(Queue& q, const Subscriber& sub) {
    auto it = std::find_if(q.subscribers.begin(), q.subscribers.end(),
                           [&](const auto& s) {
                             return s.get() == &sub;
                           });
    auto index = static_cast<std::size_t>(it - q.subscribers.begin());
    q.subscribers.erase(it);
    if (index < q.next_subscriber)
      --q.next_subscriber;
    if (q.next_subscriber >= q.subscribers.size())
      q.next_subscriber = 0;
  }

  int64_t insert(Queue& q, std::string payload, Headers headers,
                 std::chrono::milliseconds delay, TimePoint now, Effects& fx) {
    const int64_t id = q.next_id++;
    ++q.total_sent;
    const auto visible_at = now + std::max(delay, std::chrono::milliseconds{});
    auto& entry = q.messages
                      .emplace_hint(q.messages.end(), id,
                                    Entry{.enqueued_at = now,
                                          .visible_at = visible_at,
                                          .payload = std::move(payload),
                                          .headers = std::move(headers)})
                      ->second;
    entry.announce = announces();
    if (visible_at <= now) {
      make_visible(q, id, entry, fx);
    } else {
      q.pending.emplace(visible_at, id);
      schedule_wakeup(q, visible_at);
    }
    return id;
  }

  /// Deletes a message, freeing the prefetch it held.
  void remove(Queue& q, std::map<int64_t, Entry>::iterator it, Effects& fx) {
    auto& [id, entry] = *it;
    if (entry.ready)
      q.ready.erase(id);
    else
      q.pending.erase({entry.visible_at, id});
    release(q, id, entry, fx);
    q.messages.erase(it);
  }

  /// Hands a visible message out until `until`: one more delivery.
  void lease(Queue& q, int64_t id, Entry& entry, TimePoint until) {
    q.ready.erase(id);
    entry.ready = false;
    entry.visible_at = until;
    ++entry.delivery_count;
    // Pending even when `until` is now, so one receive cannot take it twice.
    q.pending.emplace(until, id);
    schedule_wakeup(q, until);
  }

  /// Makes a message visible at `at` (now or later), wherever it is.
  void place(Queue& q, int64_t id, Entry& entry, TimePoint at, TimePoint now,
             Effects& fx) {
    if (entry.ready)
      q.ready.erase(id);
    else
      q.pending.erase({entry.visible_at, id});
    entry.visible_at = at;
    if (at <= now) {
      make_visible(q, id, entry, fx);
    } else {
      entry.ready = false;
      q.pending.emplace(at, id);
      schedule_wakeup(q, at);
    }
  }

  /// Ends a leased push: the owner gets its prefetch credit back.
  void release(Queue& q, int64_t id, Entry& entry, Effects& fx) {
    if (!entry.owner)
      return;
    entry.owner->leases.erase(Lease{&q, id});
    for (auto owner_queue : entry.owner->queues)
      mark_dirty(*owner_queue, fx);
    entry.owner = nullptr;
  }

  /// Takes back the delivery of a push its subscriber never saw.
  void uncount(Subscriber& sub, const QueuedMessage& pushed) {
    auto q = find(pushed.queue);
    if (!q)
      return;
    if (auto it = q->messages.find(pushed.id);
        it != q->messages.end() && it->second.owner == &sub)
      --it->second.delivery_count;
  }

  bool exhausted(const Queue& q, const Entry& entry) const {
    return !q.dead_letter_queue
           && entry.delivery_count >= options_.max_deliveries;
  }

  /// Moves a message to `{queue}_dlq` (recreated if it was deleted) as a
  /// fresh message.
  void dead_letter(Queue& q, std::map<int64_t, Entry>::iterator it,
                   std::string_view reason, TimePoint now, Effects& fx) {
    const int64_t id = it->first;
    auto payload = std::move(it->second.payload);
    auto headers = std::move(it->second.headers);
    headers["x-dead-letter-reason"] = std::string{reason};
    headers["x-original-queue"] = q.name;
    headers["x-original-id"] = std::to_string(id);
    remove(q, it, fx);
    insert(ensure(config::dead_letter_queue_name(q.name)), std::move(payload),
           std::move(headers), {}, now, fx);
  }

  /// Moves every message whose time has come from `pending` to `ready`:
  /// expired leases free their prefetch, delayed messages are announced.
  void promote(Queue& q, TimePoint now, Effects& fx) {
    while (!q.pending.empty() && q.pending.begin()->first <= now) {
      const int64_t id = q.pending.begin()->second;
      q.pending.erase(q.pending.begin());
      make_visible(q, id, q.messages.find(id)->second, fx);
    }
  }

  /// Puts a message among the visible ones: a lease it was under ends, an
  /// announcement it waited for goes out, subscribers may get it pushed.
  void make_visible(Queue& q, int64_t id, Entry& entry, Effects& fx) {
    entry.ready = true;
    q.ready.insert(id);
    release(q, id, entry, fx);
    if (entry.announce) {
      entry.announce = false;
      announce(q, id, entry, fx);
    }
    mark_dirty(q, fx);
  }

  /// Promotes the queues someone listens to (the others wait for their
  /// next operation).
  void fire_due(TimePoint now, Effects& fx) {
    for (auto& [name, q] : queues_)
      if (!q.subscribers.empty())
        promote(q, now, fx);
  }

  TimePoint next_due() const {
    auto due = TimePoint::max();
    for (const auto& [name, q] : queues_)
      if (!q.subscribers.empty() && !q.pending.empty())
        due = std::min(due, q.pending.begin()->first);
    return due;
  }

  /// Wakes the timer thread when `at` is sooner than its alarm.
  void schedule_wakeup(const Queue& q, TimePoint at) {
    if (options_.manual_clock || q.subscribers.empty() || at >= wake_at_)
      return;
    wake_at_ = at;
    timer_wakeup_.notify_one();
  }

  void mark_dirty(Queue& q, Effects& fx) {
    if (announces() || q.dirty || q.subscribers.empty())
      return;
    q.dirty = true;
    fx.dirty.push_back(&q);
  }

  static void wake(const std::shared_ptr<Subscriber>& sub, Effects& fx) {
    if (sub->woken)
      return;
    sub->woken = true;
    fx.woken.push_back(sub);
  }

  /// Tells every subscriber of `q` that a message became visible (notify
  /// and signal modes).
  void announce(Queue& q, int64_t id, const Entry& entry, Effects& fx) {
    if (!announces())
      return;
    for (const auto& sub : q.subscribers) {
      if (options_.push_mode == InMemoryPushMode::notify
          && entry.payload.size() < options_.inline_payload_limit)
        sub->outbox.emplace_back(Message{snapshot(q, id, entry, false)});
      else
        sub->outbox.emplace_back(Available{q.name, id});
      wake(sub, fx);
    }
  }

  /// Pushes the visible messages of `q` round robin to its subscribers
  /// with prefetch left (leased_message mode).
  void push(Queue& q, TimePoint now, Effects& fx) {
    const auto n = q.subscribers.size();
    auto configured = options_.queue_prefetch.find(q.name);
    const auto prefetch = static_cast<std::size_t>(std::max(
        configured == options_.queue_prefetch.end() ? options_.prefetch
                                                    : configured->second,
        int32_t{0}));
    while (!q.ready.empty()) {
      auto it = q.messages.find(*q.ready.begin());
      if (exhausted(q, it->second)) {
        dead_letter(q, it, kMaxDeliveriesReason, now, fx);
        continue;
      }
      std::shared_ptr<Subscriber> target;
      for (std::size_t i = 0; i < n && !target; ++i) {
        auto& candidate = q.subscribers[(q.next_subscriber + i) % n];
        if (candidate->leases.size() < prefetch) {
          target = candidate;
          q.next_subscriber = (q.next_subscriber + i + 1) % n;
        }
      }
      if (!target)
        return;
      auto& [id, entry] = *it;
      lease(q, id, entry, now + options_.push_visibility_timeout);
      entry.owner = target.get();
      target->leases.insert(Lease{&q, id});
      target->outbox.emplace_back(Message{snapshot(q, id, entry, true)});
      wake(target, fx);
    }
  }

  /// Pushes what the operation made pushable; ends the operation's marks.
  void settle(TimePoint now, Effects& fx) {
    while (!fx.dirty.empty()) {
      auto q = fx.dirty.back();
      fx.dirty.pop_back();
      q->dirty = false;
      if (!q->subscribers.empty())
        push(*q, now, fx);
    }
    for (const auto& sub : fx.woken)
      sub->woken = false;
  }

  void deliver(const Effects& fx) {
    for (const auto& sub : fx.woken)
      drain(sub);
  }

  /// Hands `sub`'s outbox to its handler in order, unless another thread
  /// is doing so already (it then hands out these too).
  void drain(const std::shared_ptr<Subscriber>& sub) {
    NotificationHandler dropped;
    std::unique_lock<std::mutex> lock{mutex_};
    if (sub->draining)
      return;
    sub->draining = true;
    sub->drainer = std::this_thread::get_id();
    while (!sub->cancelled && !sub->outbox.empty()) {
      auto notification = std::move(sub->outbox.front());
      sub->outbox.pop_front();
      lock.unlock();
      call(sub->handler, std::move(notification));
      lock.lock();
    }
    sub->draining = false;
    if (sub->drop_after_call)
      dropped = std::exchange(sub->handler, nullptr);
    drained_.notify_all();
  }

  static void call(const NotificationHandler& handler,
                   MessageNotification notification) {
    try {
      handler(std::move(notification));
    } catch (const std::exception& e) {
      core::log_warn(kComponent,
                     std::string{"a notification handler threw (handlers "
                                 "must not throw): "}
                         + e.what());
    } catch (...) {
      core::log_warn(kComponent,
                     "a notification handler threw (handlers must not throw)");
    }
  }

  static QueuedMessage snapshot(const Queue& q, int64_t id, const Entry& entry,
                                bool leased) {
    return QueuedMessage{
        q.name,           id,     entry.delivery_count, entry.enqueued_at,
        entry.visible_at, leased, entry.payload,        entry.headers};
  }

  InMemoryOptions options_;
  std::mutex mutex_;
  /// A drainer finished (cancel waits for that).
  std::condition_variable drained_;
  std::condition_variable timer_wakeup_;
  std::unordered_map<std::string, Queue> queues_;
  /// When the timer thread will wake up by itself.
  TimePoint wake_at_ = TimePoint::max();
  bool stopping_ = false;
};

} // namespace

/// The handle's share: the broker plus the timer thread, which stops when
/// the last handle goes.
struct InMemoryProvider::State {
  std::shared_ptr<Broker> broker;
  std::thread timer;

  ~State() {
    if (!timer.joinable())
      return;
    broker->stop();
    // The last handle died inside a handler the timer thread runs: it
    // cannot join itself; it holds the broker and leaves at its next check.
    if (timer.get_id() == std::this_thread::get_id())
      timer.detach();
    else
      timer.join();
  }
};

InMemoryProvider::InMemoryProvider(InMemoryOptions options)
    : state_(std::make_shared<State>()) {
  auto clock = options.manual_clock;
  state_->broker = std::make_shared<Broker>(std::move(options));
  if (clock)
    clock->on_advance([broker = std::weak_ptr<Broker>{state_->broker}] {
      if (auto self = broker.lock())
        self->on_time_passed();
    });
  else
    state_->timer = std::thread{[broker = state_->broker] {
      broker->run_timer();
    }};
}

core::Result<void> InMemoryProvider::create_queue(const std::string& queue) {
  return guarded("create_queue", queue, [&] {
    return state_->broker->create_queue(queue);
  });
}

core::Result<void> InMemoryProvider::delete_queue(const std::string& queue) {
  return guarded("delete_queue", queue, [&] {
    return state_->broker->delete_queue(queue);
  });
}

core::Result<bool> InMemoryProvider::queue_exists(const std::string& queue) {
  return guarded("queue_exists", queue, [&] {
    return state_->broker->queue_exists(queue);
  });
}

core::Result<std::vector<std::string>> InMemoryProvider::list_queues() {
  return guarded("list_queues", "", [&] {
    return state_->broker->list_queues();
  });
}

core::Result<void>
InMemoryProvider::ensure_queues(const std::vector<std::string>& queues) {
  return guarded("ensure_queues", queues.empty() ? "" : queues.front(), [&] {
    return state_->broker->ensure_queues(queues);
  });
}

core::Result<QueueHealthReport>
InMemoryProvider::verify_queues(const std::vector<std::string>& queues) {
  return guarded("verify_queues", queues.empty() ? "" : queues.front(), [&] {
    return state_->broker->verify_queues(queues);
  });
}

core::Result<int64_t> InMemoryProvider::send(const std::string& queue,
                                             const OutgoingMessage& message) {
  return guarded("send", queue, [&] {
    return state_->broker->send(queue, message);
  });
}

core::Result<std::vector<int64_t>>
InMemoryProvider::send_batch(const std::string& queue,
                             const std::vector<OutgoingMessage>& messages) {
  return guarded("send_batch", queue, [&] {
    return state_->broker->send_batch(queue, messages);
  });
}

core::Result<std::vector<QueuedMessage>>
InMemoryProvider::receive(const std::string& queue, int32_t limit,
                          std::chrono::seconds visibility_timeout) {
  return guarded("receive", queue, [&] {
    return state_->broker->receive(queue, limit, visibility_timeout);
  });
}

core::Result<std::optional<QueuedMessage>>
InMemoryProvider::read_by_id(const std::string& queue, int64_t id,
                             std::chrono::seconds visibility_timeout) {
  return guarded("read_by_id", queue, [&] {
    return state_->broker->read_by_id(queue, id, visibility_timeout);
  });
}

core::Result<void> InMemoryProvider::ack(const std::string& queue, int64_t id) {
  return guarded("ack", queue, [&] {
    return state_->broker->ack(queue, id);
  });
}

core::Result<void>
InMemoryProvider::ack_batch(const std::string& queue,
                            const std::vector<int64_t>& ids) {
  return guarded("ack_batch", queue, [&] {
    return state_->broker->ack_batch(queue, ids);
  });
}

core::Result<void> InMemoryProvider::nack(const std::string& queue, int64_t id,
                                          const NackAction& action) {
  return guarded("nack", queue, [&] {
    return state_->broker->nack(queue, id, action);
  });
}

core::Result<void>
InMemoryProvider::extend_visibility(const std::string& queue, int64_t id,
                                    std::chrono::seconds timeout) {
  return guarded("extend_visibility", queue, [&] {
    return state_->broker->extend_visibility(queue, id, timeout);
  });
}

core::Result<QueueMetrics> InMemoryProvider::metrics(const std::string& queue) {
  return guarded("metrics", queue, [&] {
    return state_->broker->metrics(queue);
  });
}

core::Result<Subscription>
InMemoryProvider::subscribe(const std::string& queue,
                            NotificationHandler handler) {
  return subscribe_many({queue}, std::move(handler));
}

core::Result<Subscription>
InMemoryProvider::subscribe_many(const std::vector<std::string>& queues,
                                 NotificationHandler handler) {
  return guarded("subscribe", queues.empty() ? "" : queues.front(), [&] {
    return state_->broker->subscribe_many(queues, std::move(handler));
  });
}

ProviderCapabilities InMemoryProvider::capabilities() const {
  const auto& options = state_->broker->options();
  ProviderCapabilities out;
  out.requires_fallback_polling
      = options.push_mode != InMemoryPushMode::leased_message;
  out.fallback_polling_interval = std::chrono::milliseconds{1000};
  out.supports_fetch_by_message_id = true;
  out.supports_visibility_extension = true;
  out.max_message_size = options.max_message_size;
  return out;
}

} // namespace tasker::messaging
