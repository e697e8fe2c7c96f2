#pragma once

#include "messaging/messaging_service.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tasker::messaging {

/// What to do when a queue or exchange already exists with other
/// properties than Tasker declares (RabbitMQ refuses the declaration).
enum class DeclarationConflictPolicy {
  /// Fail with `declaration_conflict` naming the queue and the property.
  fail,
  /// Log a warning naming them and use the queue as it is.
  warn,
};

/// The kind of queue Tasker declares for its queues and their `_dlq`s.
enum class QueueType {
  /// Replicated, and the broker counts deliveries (`x-delivery-count`) and
  /// dead-letters past `x-delivery-limit` itself; a message reaches its
  /// consumer only once on disk.
  quorum,
  /// Single-node; a message reaches its consumer before the broker's disk
  /// write (the publisher's confirm still waits for it). The provider counts
  /// redeliveries itself (docs/rabbitmq.md).
  classic,
};

/// Routes messages published to the topic exchange with a matching routing
/// key (`fulfillment.*`) to a queue (`fulfillment_queue`).
struct TopicBinding {
  std::string pattern;
  std::string queue;
};

struct RabbitMqOptions {
  /// `amqp://user:password@host:port/vhost`, or `amqps://` for TLS.
  std::string url = "amqp://guest:guest@127.0.0.1:5672/%2f";
  /// Unacked pushed messages per subscribed queue (basic.qos): the
  /// concurrency control of a consumer.
  int32_t prefetch = 100;
  /// Prefetch of particular queues, overriding `prefetch`.
  std::map<std::string, int32_t> queue_prefetch;
  /// AMQP heartbeat; 0 turns heartbeats off.
  std::chrono::seconds heartbeat{30};
  /// Bounds connecting, the login handshake and every broker round trip.
  std::chrono::seconds connection_timeout{10};
  /// Deliveries of one message before it is moved to `{queue}_dlq`.
  int32_t max_deliveries = 5;
  QueueType queue_type = QueueType::quorum;
  std::size_t max_message_size = 1048576;
  DeclarationConflictPolicy declaration_conflict_policy
      = DeclarationConflictPolicy::fail;
  /// Lease of a pushed message: unacked for this long, it is returned to
  /// the queue (and delivered again) unless extended.
  std::chrono::seconds push_visibility_timeout{30};
  /// A durable topic exchange declared at start-up; empty: none. Tasker
  /// itself publishes to queues directly; the exchange serves publishers
  /// that route by key.
  std::string topic_exchange;
  /// Bindings of `topic_exchange`, made when their queue is created.
  std::vector<TopicBinding> topic_bindings;
  /// First wait before reconnecting after a failed attempt; it doubles per
  /// failure up to `reconnect_max_backoff`.
  std::chrono::milliseconds reconnect_initial_backoff{200};
  std::chrono::milliseconds reconnect_max_backoff{30000};
  /// Attempts to connect in `connect` before giving up.
  int32_t connect_retries = 5;
  /// amqps: verify the broker's certificate and host name.
  bool tls_verify_peer = true;
  /// amqps: CA certificates (PEM) to verify against.
  std::string tls_ca_file = "/etc/ssl/certs/ca-certificates.crt";
};

/// RabbitMQ 3.10+ through rabbitmq-c: durable quorum queues, persistent
/// messages, publisher confirms, push consumption. At-least-once: a message
/// is acked to the broker only when the application acks it; unacked
/// messages come back when their lease ends, on nack, or when a connection
/// drops, so handlers must be idempotent.
///
/// Each connection is owned by one thread: one for the calls of the
/// provider, one per subscription. Leases (visibility timeouts, extensions)
/// are kept by the thread holding the delivery and honoured by returning the
/// message with `basic.nack`; they end with that connection. Delays use
/// per-delay TTL queues `{queue}_delay_{ms}`. Queue listing and part of the
/// metrics are limited to what AMQP can tell (docs/rabbitmq.md). A cheap
/// handle: copies share the connections.
class RabbitMqProvider {
 public:
  /// Connects (with bounded retries), declares the topic exchange if one is
  /// configured and returns the provider; fails with `backend_unavailable`
  /// naming the host when the broker cannot be reached.
  static core::Result<RabbitMqProvider> connect(RabbitMqOptions options);

  // -- queue lifecycle --
  core::Result<void> create_queue(const std::string& queue);
  core::Result<void> delete_queue(const std::string& queue);
  core::Result<bool> queue_exists(const std::string& queue);
  /// The queues this provider declared, verified or subscribed to that
  /// still exist (AMQP cannot enumerate a broker's queues).
  core::Result<std::vector<std::string>> list_queues();
  /// Declares every queue (and its dead-letter queue) on one channel.
  core::Result<void> ensure_queues(const std::vector<std::string>& queues);
  core::Result<QueueHealthReport>
  verify_queues(const std::vector<std::string>& queues);

  // -- messages --
  core::Result<int64_t> send(const std::string& queue,
                             const OutgoingMessage& message);
  core::Result<std::vector<int64_t>>
  send_batch(const std::string& queue,
             const std::vector<OutgoingMessage>& messages);
  core::Result<std::vector<QueuedMessage>>
  receive(const std::string& queue, int32_t limit,
          std::chrono::seconds visibility_timeout);
  /// Always `unsupported`: AMQP reads queues from the head only.
  core::Result<std::optional<QueuedMessage>>
  read_by_id(const std::string& queue, int64_t id,
             std::chrono::seconds visibility_timeout);
  core::Result<void> ack(const std::string& queue, int64_t id);
  core::Result<void> ack_batch(const std::string& queue,
                               const std::vector<int64_t>& ids);
  core::Result<void> nack(const std::string& queue, int64_t id,
                          const NackAction& action);
  /// Extends a lease this provider holds (the broker knows no leases).
  core::Result<void> extend_visibility(const std::string& queue, int64_t id,
                                       std::chrono::seconds timeout);
  /// `visible_depth` is the broker's ready count; `depth` adds what this
  /// provider holds leased or delayed; age and total sent are unknown.
  core::Result<QueueMetrics> metrics(const std::string& queue);

  // -- push --
  core::Result<Subscription> subscribe(const std::string& queue,
                                       NotificationHandler handler);
  /// One connection, one channel per queue (each with its own prefetch).
  core::Result<Subscription>
  subscribe_many(const std::vector<std::string>& queues,
                 NotificationHandler handler);

  // -- about --
  std::string_view provider_name() const {
    return "rabbitmq";
  }

  ProviderCapabilities capabilities() const;

  struct State;

 private:
  explicit RabbitMqProvider(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

static_assert(MessagingService<RabbitMqProvider>);

} // namespace tasker::messaging
