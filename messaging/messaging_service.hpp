#pragma once

#include "core/result.hpp"
#include "messaging/message_notification.hpp"
#include "messaging/queued_message.hpp"
#include "messaging/subscription.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tasker::messaging {

/// What a provider can do; the event systems plan around it.
struct ProviderCapabilities {
  /// Notifications can be lost (PGMQ's NOTIFY): run a fallback poller.
  bool requires_fallback_polling = true;
  /// Suggested interval of that poller.
  std::chrono::milliseconds fallback_polling_interval{5000};
  /// `read_by_id` works (needed to act on `Available{queue, id}`).
  bool supports_fetch_by_message_id = true;
  /// `extend_visibility` works (lease heartbeats).
  bool supports_visibility_extension = true;
  /// Largest payload `send` accepts, in bytes.
  std::size_t max_message_size = 1048576;
  /// `metrics` is exact. False (RabbitMQ over AMQP): only `visible_depth`
  /// is exact, `depth` is a lower bound, `oldest_message_age` is empty and
  /// `total_sent` is 0.
  bool exact_metrics = true;
};

/// The outcome of `verify_queues`.
struct QueueHealthReport {
  std::vector<std::string> healthy;
  std::vector<std::string> missing;
  /// Queue and what is wrong with it.
  std::vector<std::pair<std::string, std::string>> errors;

  bool all_healthy() const {
    return missing.empty() && errors.empty();
  }
};

/// A queue's size and age at one moment.
struct QueueMetrics {
  std::string queue;
  /// Messages in the queue, leased or not.
  int64_t depth = 0;
  /// Messages a receive could take now.
  int64_t visible_depth = 0;
  /// Age of the oldest message; empty when the queue is empty.
  std::optional<std::chrono::seconds> oldest_message_age;
  /// Messages ever sent to the queue.
  int64_t total_sent = 0;
};

/// What `MessagingProvider::send_and_ack` did once the send succeeded.
struct SentAndAcked {
  int64_t sent_id = 0;
  /// The ack's outcome: it failed only when the provider acks after the
  /// send, in a call of its own.
  core::Result<void> acked;
};

/// What `MessagingProvider::send_and_ack_batch` did once the send
/// succeeded.
struct BatchSentAndAcked {
  /// The sent messages' ids, in input order.
  std::vector<int64_t> sent_ids;
  /// The acks' outcome: it failed only when the provider acks after the
  /// send, in a call of its own.
  core::Result<void> acked;
};

/// What `nack` does with a message.
struct NackAction {
  enum class Kind {
    /// Make it visible again after `delay` (delivery count is kept).
    requeue,
    /// Move it to `{queue}_dlq` atomically, recording `reason`.
    dead_letter,
  };
  Kind kind = Kind::requeue;
  std::chrono::milliseconds delay{0};
  std::string reason;

  static NackAction requeue(std::chrono::milliseconds delay = {}) {
    return {Kind::requeue, delay, {}};
  }

  static NackAction dead_letter(std::string reason) {
    return {Kind::dead_letter, {}, std::move(reason)};
  }
};

/// The contract every messaging provider meets (the seed's
/// `MessagingService`). Semantics, checked by the conformance suite:
/// - At-least-once: a received message stays leased for the visibility
///   timeout and comes back (delivery count + 1) unless acked; handlers
///   must be idempotent.
/// - Every queue name passes `config::validate_queue_name` before any I/O;
///   creating a queue also creates its dead-letter queue `{queue}_dlq`.
/// - A message delivered more often than the provider's maximum is moved
///   to `{queue}_dlq` instead of being delivered again.
/// - Errors are `core::Error` values naming the queue; no exception leaves
///   a provider.
template <class P>
concept MessagingService
    = requires(P& p, const std::string& queue,
               const std::vector<std::string>& queues, OutgoingMessage message,
               std::vector<OutgoingMessage> batch, int64_t id,
               std::vector<int64_t> ids, int32_t limit,
               std::chrono::seconds timeout, NackAction action,
               NotificationHandler handler) {
  // -- queue lifecycle --
  { p.create_queue(queue) } -> std::same_as<core::Result<void>>;
  { p.delete_queue(queue) } -> std::same_as<core::Result<void>>;
  { p.queue_exists(queue) } -> std::same_as<core::Result<bool>>;
  { p.list_queues() } -> std::same_as<core::Result<std::vector<std::string>>>;
  { p.ensure_queues(queues) } -> std::same_as<core::Result<void>>;
  { p.verify_queues(queues) } -> std::same_as<core::Result<QueueHealthReport>>;
  // -- messages --
  { p.send(queue, message) } -> std::same_as<core::Result<int64_t>>;
  {
    p.send_batch(queue, batch)
    } -> std::same_as<core::Result<std::vector<int64_t>>>;
  {
    p.receive(queue, limit, timeout)
    } -> std::same_as<core::Result<std::vector<QueuedMessage>>>;
  {
    p.read_by_id(queue, id, timeout)
    } -> std::same_as<core::Result<std::optional<QueuedMessage>>>;
  { p.ack(queue, id) } -> std::same_as<core::Result<void>>;
  { p.ack_batch(queue, ids) } -> std::same_as<core::Result<void>>;
  { p.nack(queue, id, action) } -> std::same_as<core::Result<void>>;
  {
    p.extend_visibility(queue, id, timeout)
    } -> std::same_as<core::Result<void>>;
  { p.metrics(queue) } -> std::same_as<core::Result<QueueMetrics>>;
  // -- push --
  { p.subscribe(queue, handler) } -> std::same_as<core::Result<Subscription>>;
  {
    p.subscribe_many(queues, handler)
    } -> std::same_as<core::Result<Subscription>>;
  // -- about --
  { p.provider_name() } -> std::convertible_to<std::string_view>;
  { p.capabilities() } -> std::same_as<ProviderCapabilities>;
};

} // namespace tasker::messaging
