#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace tasker::messaging {

using Clock = std::chrono::system_clock;

/// Message headers: string keys and values (PGMQ stores them as a JSON
/// object, RabbitMQ as AMQP table entries).
using Headers = std::map<std::string, std::string>;

/// A message as a queue hands it out. The payload is opaque bytes at this
/// layer; providers that store JSON (PGMQ) require a JSON document and may
/// return it re-rendered (same value, other whitespace).
struct QueuedMessage {
  std::string queue;
  /// Unique within the queue, increasing in send order.
  int64_t id = 0;
  /// How often the message has been delivered, this delivery included.
  int32_t delivery_count = 0;
  Clock::time_point enqueued_at;
  /// While leased: when the lease ends and the message becomes visible to
  /// other consumers again unless acked or extended.
  Clock::time_point visible_at;
  /// True when this consumer holds the message until `visible_at` (receive,
  /// read_by_id, leased push). False for a notification that carries the
  /// message without claiming it (PGMQ's inline notify): anyone may still
  /// read it, so claim it with `read_by_id` when it must run once.
  bool leased = true;
  std::string payload;
  Headers headers;
};

/// A message to send.
struct OutgoingMessage {
  std::string payload;
  Headers headers;
  /// Becomes visible this long after the send commits.
  std::chrono::milliseconds delay{0};
};

} // namespace tasker::messaging
