#pragma once

#include "messaging/queued_message.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <amqp.h>

namespace tasker::messaging {

// -- the dead-letter headers of the messaging contract ------------------------

inline constexpr std::string_view kDeadLetterReasonHeader
    = "x-dead-letter-reason";
inline constexpr std::string_view kOriginalQueueHeader = "x-original-queue";
inline constexpr std::string_view kOriginalIdHeader = "x-original-id";
inline constexpr std::string_view kMaxDeliveriesReason
    = "max_deliveries_exceeded";

// -- message ids --------------------------------------------------------------

/// Returns a new message id, unique across processes with high probability
/// and strictly increasing within this process: the send time in
/// milliseconds (41 bits from 2025-01-01), a sequence within the
/// millisecond (10 bits) and a random process tag (12 bits).
int64_t next_message_id();

/// Returns the send time encoded in an id from `next_message_id`.
Clock::time_point send_time_of(int64_t id);

// -- on the wire --------------------------------------------------------------

/// A message as Tasker publishes it: the body plus what travels in the AMQP
/// properties (message_id, app_id "tasker", timestamp, headers, delivery
/// mode 2).
struct AmqpMessage {
  int64_t id = 0;
  std::string body;
  Headers headers;
  /// Deliveries before the message was republished (a nack with a delay),
  /// carried in the header `x-tasker-deliveries`.
  int32_t carried_deliveries = 0;
};

/// The AMQP properties of an `AmqpMessage`, pointing into it: the message
/// must outlive this object.
class EncodedProperties {
 public:
  explicit EncodedProperties(const AmqpMessage& message);

  EncodedProperties(const EncodedProperties&) = delete;
  EncodedProperties& operator=(const EncodedProperties&) = delete;

  const amqp_basic_properties_t* get() const {
    return &properties_;
  }

 private:
  std::string message_id_;
  std::vector<amqp_table_entry_t> entries_;
  amqp_basic_properties_t properties_{};
};

/// A message read from a queue (basic.get or basic.deliver), copied out of
/// rabbitmq-c's buffers.
struct Delivery {
  std::string queue;
  amqp_channel_t channel = 0;
  uint64_t delivery_tag = 0;
  bool redelivered = false;
  /// Published by Tasker (app_id "tasker" and a numeric message_id).
  bool from_tasker = false;
  /// The message_id of a Tasker message; a fresh id from
  /// `next_message_id` for messages of other publishers.
  int64_t id = 0;
  std::optional<Clock::time_point> timestamp;
  std::string body;
  /// The application's headers: the broker's bookkeeping (`x-death`,
  /// `x-delivery-count`, ...) and Tasker's own are left out.
  Headers headers;
  int32_t carried_deliveries = 0;
  /// `x-delivery-count` of a quorum queue: how often it was returned.
  std::optional<int64_t> returned;
  /// The latest dead-lettering the broker recorded in `x-death`, other than
  /// the expiry that ends a delay: its reason and source queue.
  std::optional<std::pair<std::string, std::string>> broker_death;
};

/// Decodes what `amqp_read_message` returned.
Delivery decode_delivery(const amqp_basic_properties_t& properties,
                         amqp_bytes_t body);

/// Turns a delivery into the contract's message, leased until
/// `now + lease`. The delivery count is the carried count plus the quorum
/// queue's `x-delivery-count` plus one (on a classic queue, which counts
/// nothing, 1 or 2 from the redelivered flag). A message the broker
/// dead-lettered gets the contract's dead-letter headers.
QueuedMessage to_queued_message(const Delivery& delivery, Clock::time_point now,
                                std::chrono::seconds lease);

} // namespace tasker::messaging
