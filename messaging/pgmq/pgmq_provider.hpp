#pragma once

#include "messaging/messaging_service.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace tasker::messaging {

struct PgmqOptions {
  /// libpq connection URL.
  std::string url;
  /// Connections in the pool (the listener has one more of its own).
  int32_t pool_size = 4;
  int32_t max_deliveries = 5;
  std::size_t max_message_size = 1048576;
  /// Payloads (as JSON text) under this size travel inline in NOTIFY.
  std::size_t inline_payload_limit = 7000;
  std::chrono::milliseconds fallback_polling_interval{5000};
  /// Attempts to open the pool at start-up before giving up.
  int32_t connect_retries = 5;
  std::chrono::seconds connect_timeout{10};
};

/// PostgreSQL queues with a PGMQ 1.11-compatible SQL API (schema `pgmq`,
/// installed by versioned migrations unless the real extension is present).
/// Sends notify on `pgmq_message_ready.{namespace}` in the same
/// transaction: the whole message when small (→ `Message`, unleased), the
/// id otherwise (→ `Available`); a batch of up to 64 message by message,
/// a larger one once (`batch_ready` → `Available` without an id: poll).
/// NOTIFY can be lost, so capabilities ask
/// for fallback polling. Payloads must be JSON documents (PGMQ stores
/// jsonb). A cheap handle: copies share one connection pool.
class PgmqProvider {
 public:
  /// Connects (with bounded retries), installs or verifies the schema, and
  /// returns the provider; fails with `backend_unavailable` naming the
  /// host when PostgreSQL cannot be reached.
  static core::Result<PgmqProvider> connect(PgmqOptions options);

  // -- queue lifecycle --
  core::Result<void> create_queue(const std::string& queue);
  core::Result<void> delete_queue(const std::string& queue);
  core::Result<bool> queue_exists(const std::string& queue);
  core::Result<std::vector<std::string>> list_queues();
  /// Creates every queue (and dead-letter queue) in one transaction.
  core::Result<void> ensure_queues(const std::vector<std::string>& queues);
  core::Result<QueueHealthReport>
  verify_queues(const std::vector<std::string>& queues);

  // -- messages --
  core::Result<int64_t> send(const std::string& queue,
                             const OutgoingMessage& message);
  /// Sends `message` to `queue` and deletes message `acked_id` of
  /// `acked_queue` in one statement: both commit, or neither.
  core::Result<int64_t> send_and_ack(const std::string& queue,
                                     const OutgoingMessage& message,
                                     const std::string& acked_queue,
                                     int64_t acked_id);
  core::Result<std::vector<int64_t>>
  send_batch(const std::string& queue,
             const std::vector<OutgoingMessage>& messages);
  /// `send_batch` that also deletes messages `acked_ids` of `acked_queue`,
  /// in the same statement: all of it commits, or none. Returns the new
  /// ids in input order.
  core::Result<std::vector<int64_t>> send_and_ack_batch(
      const std::string& queue, const std::vector<OutgoingMessage>& messages,
      const std::string& acked_queue, const std::vector<int64_t>& acked_ids);
  core::Result<std::vector<QueuedMessage>>
  receive(const std::string& queue, int32_t limit,
          std::chrono::seconds visibility_timeout);
  core::Result<std::optional<QueuedMessage>>
  read_by_id(const std::string& queue, int64_t id,
             std::chrono::seconds visibility_timeout);
  /// Claims those of `ids` that are visible, by key (no scan), in id order.
  core::Result<std::vector<QueuedMessage>>
  read_by_ids(const std::string& queue, const std::vector<int64_t>& ids,
              std::chrono::seconds visibility_timeout);
  core::Result<void> ack(const std::string& queue, int64_t id);
  core::Result<void> ack_batch(const std::string& queue,
                               const std::vector<int64_t>& ids);
  core::Result<void> nack(const std::string& queue, int64_t id,
                          const NackAction& action);
  core::Result<void> extend_visibility(const std::string& queue, int64_t id,
                                       std::chrono::seconds timeout);
  core::Result<QueueMetrics> metrics(const std::string& queue);

  // -- push --
  core::Result<Subscription> subscribe(const std::string& queue,
                                       NotificationHandler handler);
  core::Result<Subscription>
  subscribe_many(const std::vector<std::string>& queues,
                 NotificationHandler handler);

  // -- about --
  std::string_view provider_name() const {
    return "pgmq";
  }

  ProviderCapabilities capabilities() const;

  struct State;

 private:
  explicit PgmqProvider(std::shared_ptr<State> state);

  /// `send`, or `send_and_ack` when `acked_queue` is set.
  core::Result<int64_t> send_one(const std::string& queue,
                                 const OutgoingMessage& message,
                                 const std::string* acked_queue,
                                 int64_t acked_id);
  /// `send_batch`, or `send_and_ack_batch` when `acked_queue` is set.
  core::Result<std::vector<int64_t>> send_many(
      const std::string& queue, const std::vector<OutgoingMessage>& messages,
      const std::string* acked_queue, const std::vector<int64_t>& acked_ids);

  std::shared_ptr<State> state_;
};

static_assert(MessagingService<PgmqProvider>);

} // namespace tasker::messaging
