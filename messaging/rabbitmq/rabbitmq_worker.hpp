#pragma once

#include "core/result.hpp"
#include "messaging/rabbitmq/amqp_session.hpp"
#include "messaging/rabbitmq/rabbitmq_provider.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace tasker::messaging {

class RabbitMqWorker;

/// A leased message: its queue and id.
using LeaseKey = std::pair<std::string, int64_t>;

/// The `message_not_found` error of a message this provider does not hold.
core::Error lease_not_found(const std::string& queue, int64_t id);

/// What the provider handle and its workers share.
struct RabbitMqShared {
  explicit RabbitMqShared(RabbitMqOptions options)
      : options(std::move(options)) {}

  const RabbitMqOptions options;

  std::mutex mutex;
  /// Queues this provider created (with their dead-letter queues): what a
  /// reconnect redeclares.
  std::set<std::string> declared_queues;
  /// Those plus the queues it verified or subscribed to: what
  /// `list_queues` checks.
  std::set<std::string> known_queues;
  /// The delays (ms) of the delay queues declared for a queue.
  std::map<std::string, std::set<int64_t>> delays;
  /// Which worker holds each lease.
  std::map<LeaseKey, std::weak_ptr<RabbitMqWorker>> lease_owners;
};

/// One AMQP connection and the one thread that ever touches it. The
/// provider's calls run on its "calls" worker; each subscription has a
/// consumer worker. A worker keeps the leases of the deliveries it took:
/// it acks or nacks them on request, returns them (basic.nack with requeue)
/// when they expire, and forgets them when its connection drops (the broker
/// then requeues them). After a connection loss it reconnects with backoff,
/// redeclares the topology it knows, resumes consuming, and logs the gap in
/// one warning; a consumer then notifies `Available{queue, nullopt}` for
/// each of its queues.
class RabbitMqWorker : public std::enable_shared_from_this<RabbitMqWorker> {
 public:
  /// What a consumer worker consumes and whom it tells.
  struct Consumer {
    std::vector<std::string> queues;
    NotificationHandler handler;
  };

  RabbitMqWorker(std::shared_ptr<RabbitMqShared> shared, std::string name,
                 std::optional<Consumer> consumer);
  ~RabbitMqWorker();

  RabbitMqWorker(const RabbitMqWorker&) = delete;
  RabbitMqWorker& operator=(const RabbitMqWorker&) = delete;

  /// Starts the thread and connects, trying `attempts` times with backoff;
  /// a consumer also starts consuming. On failure the thread is gone.
  core::Result<void> start(int32_t attempts);

  /// Stops the thread and closes the connection (a consumer's unacked
  /// deliveries go back to their queues). Waits for a running handler call
  /// to finish, unless called from that handler.
  void stop();

  /// Runs `f(*this)` on the worker's thread and returns its result (at once
  /// when called on that thread). `f` returns a `core::Result`.
  template <class F>
  auto call(F&& f) -> std::invoke_result_t<F&, RabbitMqWorker&> {
    using R = std::invoke_result_t<F&, RabbitMqWorker&>;
    if (is_current())
      return guarded<R>(f);
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    if (!enqueue([promise, &f](RabbitMqWorker& self) {
          promise->set_value(self.guarded<R>(f));
        }))
      return R{stopped_error()};
    return future.get();
  }

  /// Runs `f(*this)` on the worker's thread later, without waiting.
  void post(std::function<void(RabbitMqWorker&)> f);

  /// True on this worker's thread.
  bool is_current() const;

  /// True on the thread of any worker.
  static bool on_any_worker();

  // -- on the worker's thread --

  /// The connection; connects first when there is none and the backoff
  /// allows.
  core::Result<AmqpSession*> session();

  /// basic.get up to `limit` messages, leasing each for `lease`; a message
  /// delivered more than `max_deliveries` times is dead-lettered instead.
  core::Result<std::vector<QueuedMessage>>
  receive(const std::string& queue, int32_t limit, std::chrono::seconds lease);

  /// Acks the leases of `ids`; an id not held is `message_not_found` when
  /// `strict`, else skipped.
  core::Result<void> ack(const std::string& queue,
                         const std::vector<int64_t>& ids, bool strict);
  core::Result<void> nack(const std::string& queue, int64_t id,
                          const NackAction& action);
  core::Result<void> extend(const std::string& queue, int64_t id,
                            std::chrono::seconds timeout);

  /// Publishes, returning once the broker confirmed all of them. Messages
  /// with a delay go through their delay queue.
  core::Result<void>
  publish(const std::string& queue,
          const std::vector<std::pair<AmqpMessage, std::chrono::milliseconds>>&
              messages);

  /// Closes the channel of a queue about to be deleted and drops its
  /// leases.
  void forget_queue(const std::string& queue);

 private:
  struct Lease {
    amqp_channel_t channel = 0;
    uint64_t delivery_tag = 0;
    Clock::time_point visible_at;
    QueuedMessage message;
  };

  template <class R, class F>
  R guarded(F& f) {
    try {
      return f(*this);
    } catch (const std::exception& e) {
      return R{core::Error{core::ErrorCode::internal,
                           "rabbitmq " + name_ + ": " + e.what()}};
    } catch (...) {
      return R{core::Error{core::ErrorCode::internal,
                           "rabbitmq " + name_ + ": unknown exception"}};
    }
  }

  bool enqueue(std::function<void(RabbitMqWorker&)> task);
  core::Error stopped_error() const;
  void run(std::promise<core::Result<void>> started, int32_t attempts);
  void shut_down();
  core::Result<void> connect();
  core::Result<void> resume_topology(AmqpSession& session);
  void lose_session(core::Error why);
  void notify(MessageNotification notification, const std::string& queue);
  void maintain();
  void run_tasks();
  void wait_for_work();
  void dispatch(std::vector<Delivery>& deliveries);
  void expire_leases();
  void drop_lost_channels();
  bool over_limit(const QueuedMessage& message) const;
  bool carry_count(const Delivery& delivery, const QueuedMessage& message);
  void hold(const Delivery& delivery, const QueuedMessage& message);
  void release(LeaseKey key);
  core::Result<void> dead_letter(const std::string& queue,
                                 amqp_channel_t channel, uint64_t tag,
                                 const QueuedMessage& message,
                                 std::string_view reason);
  std::chrono::milliseconds next_backoff();

  std::shared_ptr<RabbitMqShared> shared_;
  const RabbitMqOptions& options_;
  std::string name_;
  std::optional<Consumer> consumer_;

  std::thread thread_;
  std::mutex stop_mutex_;
  int wake_fd_ = -1;
  std::mutex mutex_;
  std::deque<std::function<void(RabbitMqWorker&)>> tasks_;
  bool finished_ = false;
  std::atomic<bool> stopping_{false};

  // Owned by the worker's thread.
  std::unique_ptr<AmqpSession> session_;
  bool connected_once_ = false;
  std::chrono::steady_clock::time_point next_attempt_;
  std::chrono::milliseconds backoff_{0};
  std::optional<std::chrono::steady_clock::time_point> lost_at_;
  core::Error last_error_;
  std::map<LeaseKey, Lease> leases_;
  /// No lease expires before this.
  Clock::time_point next_expiry_ = Clock::time_point::max();
};

} // namespace tasker::messaging
