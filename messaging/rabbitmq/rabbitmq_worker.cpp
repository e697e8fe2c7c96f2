#include "messaging/rabbitmq/rabbitmq_worker.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "messaging/rabbitmq/rabbitmq_topology.hpp"

#include <algorithm>
#include <cstdio>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace tasker::messaging {

namespace {

using core::Error;
using core::ErrorCode;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

/// Longest sleep of a worker: input, heartbeats and timers are looked at
/// least this often.
constexpr std::chrono::milliseconds kTick = 500ms;

thread_local RabbitMqWorker* current_worker = nullptr;

std::string seconds_text(SteadyClock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s",
                std::chrono::duration<double>(d).count());
  return text;
}

bool same_owner(const std::weak_ptr<RabbitMqWorker>& a,
                const std::weak_ptr<RabbitMqWorker>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

} // namespace

core::Error lease_not_found(const std::string& queue, int64_t id) {
  return {ErrorCode::message_not_found,
          "rabbitmq: message " + std::to_string(id) + " of queue '" + queue
              + "' is not leased by this provider"};
}

RabbitMqWorker::RabbitMqWorker(std::shared_ptr<RabbitMqShared> shared,
                               std::string name,
                               std::optional<Consumer> consumer)
    : shared_(std::move(shared)), options_(shared_->options),
      name_(std::move(name)), consumer_(std::move(consumer)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

RabbitMqWorker::~RabbitMqWorker() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

core::Result<void> RabbitMqWorker::start(int32_t attempts) {
  if (wake_fd_ < 0)
    return Error{ErrorCode::internal,
                 "rabbitmq " + name_ + ": cannot create an eventfd"};
  std::promise<core::Result<void>> started;
  auto result = started.get_future();
  thread_ = std::thread{[self = shared_from_this(),
                         started = std::move(started), attempts]() mutable {
    self->run(std::move(started), attempts);
  }};
  auto outcome = result.get();
  if (!outcome)
    stop();
  return outcome;
}

void RabbitMqWorker::stop() {
  stopping_ = true;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  std::lock_guard<std::mutex> guard{stop_mutex_};
  if (!thread_.joinable())
    return;
  if (is_current())
    thread_.detach();
  else
    thread_.join();
}

void RabbitMqWorker::post(std::function<void(RabbitMqWorker&)> f) {
  (void)enqueue(std::move(f));
}

bool RabbitMqWorker::is_current() const {
  return current_worker == this;
}

bool RabbitMqWorker::on_any_worker() {
  return current_worker != nullptr;
}

bool RabbitMqWorker::enqueue(std::function<void(RabbitMqWorker&)> task) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (finished_)
      return false;
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  return true;
}

core::Error RabbitMqWorker::stopped_error() const {
  return {ErrorCode::backend_unavailable,
          "rabbitmq " + name_ + ": the provider is shut down"};
}

// -- the thread ---------------------------------------------------------------

void RabbitMqWorker::run(std::promise<core::Result<void>> started,
                         int32_t attempts) {
  current_worker = this;
  auto first = connect();
  for (int32_t attempt = 1; !first && attempt < attempts && !stopping_;
       ++attempt) {
    std::this_thread::sleep_until(next_attempt_);
    first = connect();
  }
  bool connected = first.ok();
  started.set_value(std::move(first));
  while (connected && !stopping_) {
    maintain();
    run_tasks();
    if (!stopping_)
      wait_for_work();
  }
  shut_down();
  current_worker = nullptr;
}

void RabbitMqWorker::shut_down() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    finished_ = true;
  }
  run_tasks();
  while (!leases_.empty())
    release(leases_.begin()->first);
  session_.reset();
}

void RabbitMqWorker::maintain() {
  if (session_ && !session_->healthy())
    lose_session(session_->failure());
  if (!session_) {
    if (SteadyClock::now() >= next_attempt_)
      (void)connect();
    return;
  }
  std::vector<Delivery> deliveries;
  auto read = session_->read_input(0ms, deliveries);
  drop_lost_channels();
  if (!read) {
    lose_session(read.error());
    return;
  }
  dispatch(deliveries);
  expire_leases();
}

void RabbitMqWorker::run_tasks() {
  std::deque<std::function<void(RabbitMqWorker&)>> tasks;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) {
    task(*this);
    if (session_ && !session_->healthy())
      lose_session(session_->failure());
  }
}

void RabbitMqWorker::wait_for_work() {
  auto timeout = kTick;
  if (options_.heartbeat.count() > 0)
    timeout = std::min(timeout,
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           options_.heartbeat)
                           / 4);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!tasks_.empty())
      return;
  }
  if (session_ && session_->has_buffered_input())
    return;
  if (!leases_.empty())
    timeout = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(
                             next_expiry_ - Clock::now()),
                         0ms, timeout);
  if (!session_)
    timeout = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(
                             next_attempt_ - SteadyClock::now()),
                         0ms, timeout);
  pollfd fds[2]
      = {{wake_fd_, POLLIN, 0}, {session_ ? session_->fd() : -1, POLLIN, 0}};
  (void)::poll(fds, 2, static_cast<int>(timeout.count()));
  uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);
}

// -- connection ---------------------------------------------------------------

core::Result<AmqpSession*> RabbitMqWorker::session() {
  if (stopping_)
    return stopped_error();
  if (session_ && !session_->healthy())
    lose_session(session_->failure());
  if (!session_) {
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(
        next_attempt_ - SteadyClock::now());
    if (wait.count() > 0)
      return Error{ErrorCode::backend_unavailable,
                   "rabbitmq " + name_ + ": not connected, next attempt in "
                       + std::to_string(wait.count())
                       + " ms (last error: " + last_error_.message() + ")"};
    if (auto connected = connect(); !connected)
      return connected.error();
  }
  return session_.get();
}

core::Result<void> RabbitMqWorker::connect() {
  auto failed = [this](core::Error error) {
    last_error_ = std::move(error);
    next_attempt_ = SteadyClock::now() + next_backoff();
    return last_error_;
  };
  auto opened = AmqpSession::open(options_, "tasker " + name_);
  if (!opened)
    return failed(opened.error());
  auto& session = **opened;
  if (connected_once_) {
    if (auto resumed = resume_topology(session); !resumed)
      return failed(resumed.error());
  }
  if (consumer_) {
    for (const auto& queue : consumer_->queues) {
      auto prefetch = options_.prefetch;
      if (auto it = options_.queue_prefetch.find(queue);
          it != options_.queue_prefetch.end())
        prefetch = it->second;
      if (auto consuming = session.consume(queue, prefetch); !consuming)
        return failed(consuming.error());
    }
  }
  session_ = std::move(*opened);
  connected_once_ = true;
  backoff_ = 0ms;
  if (lost_at_) {
    auto gap = SteadyClock::now() - *lost_at_;
    lost_at_.reset();
    core::log_warn("rabbitmq", name_ + " reconnected after " + seconds_text(gap)
                                   + " without a connection (last error: "
                                   + last_error_.message() + ")");
    if (consumer_) {
      for (const auto& queue : consumer_->queues)
        notify(Available{queue, std::nullopt}, queue);
    }
  }
  return {};
}

core::Result<void> RabbitMqWorker::resume_topology(AmqpSession& session) {
  std::vector<std::string> queues;
  if (consumer_) {
    queues = consumer_->queues;
  } else {
    std::lock_guard<std::mutex> guard{shared_->mutex};
    queues.assign(shared_->declared_queues.begin(),
                  shared_->declared_queues.end());
  }
  // A reconnect cannot resolve a conflict: it is reported and skipped.
  constexpr auto policy = DeclarationConflictPolicy::warn;
  if (!consumer_) {
    if (auto declared = declare_topic_exchange(session, options_, policy);
        !declared)
      return declared;
  }
  for (const auto& queue : queues) {
    if (auto declared
        = declare_queue_topology(session, options_, queue, policy);
        !declared)
      return declared;
  }
  return {};
}

void RabbitMqWorker::lose_session(core::Error why) {
  last_error_ = std::move(why);
  if (!lost_at_)
    lost_at_ = SteadyClock::now();
  core::log_info("rabbitmq", name_ + " lost its connection ("
                                 + last_error_.message()
                                 + "); its leases are void, reconnecting");
  while (!leases_.empty())
    release(leases_.begin()->first);
  session_.reset();
  backoff_ = 0ms;
  next_attempt_ = SteadyClock::now();
}

std::chrono::milliseconds RabbitMqWorker::next_backoff() {
  backoff_ = backoff_.count() == 0
                 ? options_.reconnect_initial_backoff
                 : std::min(backoff_ * 2, options_.reconnect_max_backoff);
  return backoff_;
}

void RabbitMqWorker::drop_lost_channels() {
  if (!session_)
    return;
  auto lost = session_->take_lost_channels();
  if (lost.empty())
    return;
  if (consumer_) {
    // A consumer whose channel was closed or cancelled (its queue deleted)
    // starts over: reconnect, redeclare, consume.
    lose_session(
        Error{ErrorCode::backend_unavailable,
              "rabbitmq " + name_ + ": the broker closed a consumer channel"});
    return;
  }
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto key = (it++)->first;
    if (std::find(lost.begin(), lost.end(), leases_.at(key).channel)
        != lost.end())
      release(key);
  }
}

// -- deliveries and leases ----------------------------------------------------

void RabbitMqWorker::notify(MessageNotification notification,
                            const std::string& queue) {
  try {
    consumer_->handler(std::move(notification));
  } catch (const std::exception& e) {
    core::log_error("rabbitmq", "notification handler of queue '" + queue
                                    + "' threw: " + e.what());
  } catch (...) {
    core::log_error("rabbitmq",
                    "notification handler of queue '" + queue + "' threw");
  }
}

void RabbitMqWorker::dispatch(std::vector<Delivery>& deliveries) {
  for (auto& delivery : deliveries) {
    // After a cancel or a failure the rest are requeued by the broker.
    if (stopping_ || !session_ || !session_->healthy())
      return;
    auto message = to_queued_message(delivery, Clock::now(),
                                     options_.push_visibility_timeout);
    if (over_limit(message)) {
      (void)dead_letter(delivery.queue, delivery.channel, delivery.delivery_tag,
                        message, kMaxDeliveriesReason);
      continue;
    }
    if (carry_count(delivery, message))
      continue;
    hold(delivery, message);
    notify(Message{std::move(message)}, delivery.queue);
  }
}

bool RabbitMqWorker::over_limit(const QueuedMessage& message) const {
  return !is_dead_letter_queue(message.queue)
         && message.delivery_count > options_.max_deliveries;
}

// A redelivery the broker did not count (a classic queue keeps only the
// `redelivered` flag) is published again carrying its count, and this copy
// acked, so each return counts: the copy that comes back is handed out as
// this delivery. Not done (false) when the broker counts, for dead-letter
// queues (no limit there), or when the publish fails (this copy is then
// handed out counting one redelivery only, as the broker tells).
bool RabbitMqWorker::carry_count(const Delivery& delivery,
                                 const QueuedMessage& message) {
  if (!delivery.redelivered || delivery.returned
      || is_dead_letter_queue(delivery.queue))
    return false;
  std::vector<std::pair<AmqpMessage, std::chrono::milliseconds>> again;
  again.emplace_back(AmqpMessage{message.id, message.payload, message.headers,
                                 message.delivery_count - 1},
                     std::chrono::milliseconds{0});
  if (auto published = publish(delivery.queue, again); !published) {
    core::log_warn("rabbitmq", "cannot count the redelivery of message "
                                   + std::to_string(message.id) + " of queue '"
                                   + delivery.queue
                                   + "': " + published.error().message());
    return false;
  }
  (void)session_->ack(delivery.queue, delivery.channel, delivery.delivery_tag);
  return true;
}

void RabbitMqWorker::hold(const Delivery& delivery,
                          const QueuedMessage& message) {
  LeaseKey key{message.queue, message.id};
  leases_[key] = Lease{delivery.channel, delivery.delivery_tag,
                       message.visible_at, message};
  next_expiry_ = std::min(next_expiry_, message.visible_at);
  std::lock_guard<std::mutex> guard{shared_->mutex};
  shared_->lease_owners[key] = weak_from_this();
}

void RabbitMqWorker::release(LeaseKey key) {
  leases_.erase(key);
  std::lock_guard<std::mutex> guard{shared_->mutex};
  auto it = shared_->lease_owners.find(key);
  if (it != shared_->lease_owners.end()
      && same_owner(it->second, weak_from_this()))
    shared_->lease_owners.erase(it);
}

void RabbitMqWorker::expire_leases() {
  auto now = Clock::now();
  if (now < next_expiry_)
    return;
  next_expiry_ = Clock::time_point::max();
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto key = it->first;
    const auto& lease = (it++)->second;
    if (lease.visible_at > now) {
      next_expiry_ = std::min(next_expiry_, lease.visible_at);
      continue;
    }
    if (session_ && session_->healthy())
      (void)session_->nack(key.first, lease.channel, lease.delivery_tag,
                           /*requeue*/ true);
    release(key);
  }
}

core::Result<void> RabbitMqWorker::dead_letter(const std::string& queue,
                                               amqp_channel_t channel,
                                               uint64_t tag,
                                               const QueuedMessage& message,
                                               std::string_view reason) {
  AmqpMessage dead{next_message_id(), message.payload, message.headers, 0};
  dead.headers[std::string{kDeadLetterReasonHeader}] = std::string{reason};
  dead.headers[std::string{kOriginalQueueHeader}] = queue;
  dead.headers[std::string{kOriginalIdHeader}] = std::to_string(message.id);
  auto target = config::dead_letter_queue_name(queue);
  Publication publication{target, &dead};
  if (auto published = session_->publish({&publication, 1}); !published) {
    core::log_warn("rabbitmq",
                   "cannot dead-letter message " + std::to_string(message.id)
                       + " of queue '" + queue
                       + "', it stays there: " + published.error().message());
    if (session_->healthy())
      (void)session_->nack(queue, channel, tag, /*requeue*/ true);
    return published;
  }
  return session_->ack(queue, channel, tag);
}

// -- operations ---------------------------------------------------------------

core::Result<std::vector<QueuedMessage>>
RabbitMqWorker::receive(const std::string& queue, int32_t limit,
                        std::chrono::seconds lease) {
  if (auto ready = session(); !ready)
    return ready.error();
  expire_leases();
  std::vector<QueuedMessage> out;
  while (static_cast<int32_t>(out.size()) < limit) {
    auto got = session_->get(queue);
    drop_lost_channels();
    // Messages already taken are returned; their leases hold.
    if (!got) {
      if (out.empty())
        return got.error();
      break;
    }
    if (!got->has_value())
      break;
    const auto& delivery = **got;
    auto message = to_queued_message(delivery, Clock::now(), lease);
    if (over_limit(message)) {
      auto dead = dead_letter(queue, delivery.channel, delivery.delivery_tag,
                              message, kMaxDeliveriesReason);
      if (!dead) {
        if (out.empty())
          return dead.error();
        break;
      }
      continue;
    }
    if (carry_count(delivery, message))
      continue;
    hold(delivery, message);
    out.push_back(std::move(message));
  }
  return out;
}

core::Result<void> RabbitMqWorker::ack(const std::string& queue,
                                       const std::vector<int64_t>& ids,
                                       bool strict) {
  for (auto id : ids) {
    LeaseKey key{queue, id};
    auto it = leases_.find(key);
    if (it == leases_.end()) {
      if (strict)
        return lease_not_found(queue, id);
      continue;
    }
    if (!session_)
      return last_error_;
    auto acked
        = session_->ack(queue, it->second.channel, it->second.delivery_tag);
    release(key);
    if (!acked)
      return acked;
  }
  return {};
}

core::Result<void> RabbitMqWorker::nack(const std::string& queue, int64_t id,
                                        const NackAction& action) {
  LeaseKey key{queue, id};
  auto it = leases_.find(key);
  if (it == leases_.end())
    return lease_not_found(queue, id);
  if (!session_)
    return last_error_;
  auto lease = it->second;
  if (action.kind == NackAction::Kind::dead_letter) {
    auto dead = dead_letter(queue, lease.channel, lease.delivery_tag,
                            lease.message, action.reason);
    release(key);
    return dead;
  }
  if (action.delay.count() <= 0) {
    auto returned = session_->nack(queue, lease.channel, lease.delivery_tag,
                                   /*requeue*/ true);
    release(key);
    return returned;
  }
  // A delayed return is a republish through the delay queue that keeps the
  // id, headers and delivery count, then an ack of the original.
  std::vector<std::pair<AmqpMessage, std::chrono::milliseconds>> again;
  again.emplace_back(AmqpMessage{id, lease.message.payload,
                                 lease.message.headers,
                                 lease.message.delivery_count},
                     action.delay);
  if (auto published = publish(queue, again); !published)
    return published;
  auto acked = session_->ack(queue, lease.channel, lease.delivery_tag);
  release(key);
  return acked;
}

core::Result<void> RabbitMqWorker::extend(const std::string& queue, int64_t id,
                                          std::chrono::seconds timeout) {
  auto it = leases_.find({queue, id});
  if (it == leases_.end())
    return lease_not_found(queue, id);
  it->second.visible_at = Clock::now() + timeout;
  return {};
}

core::Result<void> RabbitMqWorker::publish(
    const std::string& queue,
    const std::vector<std::pair<AmqpMessage, std::chrono::milliseconds>>&
        messages) {
  if (auto ready = session(); !ready)
    return ready.error();
  std::map<int64_t, std::string> delay_queues;
  std::vector<Publication> publications;
  publications.reserve(messages.size());
  for (const auto& [message, delay] : messages) {
    if (delay.count() <= 0) {
      publications.push_back({queue, &message});
      continue;
    }
    auto it = delay_queues.find(delay.count());
    if (it == delay_queues.end()) {
      auto declared = declare_delay_queue(*session_, queue, delay);
      if (!declared)
        return declared.error();
      {
        std::lock_guard<std::mutex> guard{shared_->mutex};
        shared_->delays[queue].insert(delay.count());
      }
      it = delay_queues.emplace(delay.count(), std::move(*declared)).first;
    }
    publications.push_back({it->second, &message});
  }
  return session_->publish(publications);
}

void RabbitMqWorker::forget_queue(const std::string& queue) {
  for (auto it = leases_.lower_bound({queue, INT64_MIN});
       it != leases_.end() && it->first.first == queue;) {
    auto key = (it++)->first;
    release(key);
  }
  if (session_)
    session_->close_queue_channel(queue);
}

} // namespace tasker::messaging
