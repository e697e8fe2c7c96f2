#pragma once

#include "core/result.hpp"
#include "messaging/rabbitmq/amqp_message.hpp"
#include "messaging/rabbitmq/rabbitmq_provider.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <amqp.h>

namespace tasker::messaging {

/// A queue or exchange argument: text or integer.
using AmqpArgument = std::variant<std::string, int64_t>;

/// What `queue.declare` sends: always durable, never exclusive or
/// auto-deleted.
struct QueueDeclaration {
  std::string name;
  std::vector<std::pair<std::string, AmqpArgument>> arguments;
};

/// A message to publish to the default exchange (routing key = queue).
struct Publication {
  std::string_view queue;
  const AmqpMessage* message = nullptr;
};

/// One rabbitmq-c connection with its channels: channel 1 publishes in
/// confirm mode, channel 2 declares and inspects (a broker error closes it
/// and it is reopened on the next use), and each queue read from gets a
/// channel of its own, so a failure on one queue never voids the deliveries
/// of another. Not thread-safe: one thread owns a session. Every error is a
/// `core::Error` naming the queue; after a connection-level failure
/// `healthy()` is false and the session is only good for destruction.
class AmqpSession {
 public:
  /// Connects, logs in (heartbeat and timeouts from the options) and opens
  /// the publish and admin channels. `name` shows in the broker's
  /// connection list.
  static core::Result<std::unique_ptr<AmqpSession>>
  open(const RabbitMqOptions& options, std::string_view name);

  ~AmqpSession();

  AmqpSession(const AmqpSession&) = delete;
  AmqpSession& operator=(const AmqpSession&) = delete;

  bool healthy() const {
    return healthy_;
  }

  /// Why the connection failed (meaningful once `healthy()` is false).
  const core::Error& failure() const {
    return failure_;
  }

  /// The socket, to poll for input.
  int fd() const;

  /// True when frames wait in rabbitmq-c's buffers, where polling the
  /// socket does not see them.
  bool has_buffered_input() const;

  // -- admin channel --

  core::Result<void> declare_queue(const QueueDeclaration& declaration);
  /// Passive declare: the ready-message count, or empty when the queue does
  /// not exist.
  core::Result<std::optional<uint32_t>> inspect_queue(const std::string& queue);
  core::Result<void> declare_exchange(const std::string& exchange,
                                      const char* type, std::string_view queue);
  core::Result<void> bind_queue(const std::string& queue,
                                const std::string& exchange,
                                const std::string& routing_key);
  core::Result<void> delete_queue(const std::string& queue);
  core::Result<void> delete_exchange(const std::string& exchange,
                                     std::string_view queue);

  // -- publish channel --

  /// Publishes (mandatory, persistent) and returns once the broker
  /// confirmed every message. A message no queue took (basic.return) →
  /// `queue_not_found`; a basic.nack → `backend_error`; no confirm within
  /// the connection timeout → `backend_unavailable`.
  core::Result<void> publish(std::span<const Publication> publications);

  // -- queue channels --

  /// basic.get without auto-ack; empty when the queue has nothing ready.
  core::Result<std::optional<Delivery>> get(const std::string& queue);
  core::Result<void> ack(const std::string& queue, amqp_channel_t channel,
                         uint64_t delivery_tag);
  core::Result<void> nack(const std::string& queue, amqp_channel_t channel,
                          uint64_t delivery_tag, bool requeue);
  /// basic.qos(prefetch) and basic.consume on the queue's channel.
  core::Result<void> consume(const std::string& queue, int32_t prefetch);
  /// Closes the queue's channel (its unacked deliveries go back).
  void close_queue_channel(const std::string& queue);

  /// Reads what arrived: waits up to `timeout` for a first frame, then
  /// takes whatever else is already there. Deliveries of consumers (also
  /// those read while waiting for confirms) are appended to `out`.
  core::Result<void> read_input(std::chrono::milliseconds timeout,
                                std::vector<Delivery>& out);

  /// Queue channels the broker closed, or whose consumer it cancelled,
  /// since the last call: their delivery tags are void.
  std::vector<amqp_channel_t> take_lost_channels();

 private:
  explicit AmqpSession(amqp_connection_state_t connection);

  core::Result<void> open_channel(amqp_channel_t channel,
                                  std::string_view queue);
  core::Result<void> ensure_admin_channel(std::string_view queue);
  core::Result<void> ensure_publish_channel(std::string_view queue);
  core::Result<amqp_channel_t> queue_channel(const std::string& queue);
  /// Checks the reply of the last RPC on `channel`; on a broker error also
  /// completes the close handshake and forgets the channel.
  core::Result<void> settle(const amqp_rpc_reply_t& reply,
                            amqp_channel_t channel, std::string_view operation,
                            std::string_view queue);
  core::Result<void> settle_last(amqp_channel_t channel,
                                 std::string_view operation,
                                 std::string_view queue);
  core::Error fail(core::Error error);
  void handle_frame(const amqp_frame_t& frame);
  void forget_channel(amqp_channel_t channel);
  void settle_confirms(uint64_t tag, bool multiple, bool refused);
  core::Result<void> wait_for_confirms(std::string_view queue);

  amqp_connection_state_t connection_;
  bool logged_in_ = false;
  bool healthy_ = true;
  core::Error failure_;
  std::chrono::milliseconds timeout_{10000};
  bool admin_open_ = false;
  bool publish_open_ = false;
  uint64_t next_publish_tag_ = 1;
  std::set<uint64_t> unconfirmed_;
  bool refused_ = false;
  std::vector<std::string> returned_;
  std::map<std::string, amqp_channel_t> queue_channels_;
  std::map<amqp_channel_t, std::string> channel_queues_;
  std::vector<amqp_channel_t> free_channels_;
  amqp_channel_t next_channel_ = 3;
  std::vector<amqp_channel_t> lost_channels_;
  std::vector<Delivery> deliveries_;
};

} // namespace tasker::messaging
