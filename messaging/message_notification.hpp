#pragma once

#include "messaging/queued_message.hpp"

#include <functional>
#include <optional>
#include <string>
#include <variant>

namespace tasker::messaging {

/// Signal only: something is ready on `queue`. With an id, that message can
/// be fetched with `read_by_id`; without one (for example after a listener
/// reconnect, when notifications may have been missed) the queue should be
/// polled now.
struct Available {
  std::string queue;
  std::optional<int64_t> msg_id;
};

/// Full payload: the message itself (RabbitMQ push, PGMQ inline notify).
struct Message {
  QueuedMessage message;
};

/// What a subscription delivers.
using MessageNotification = std::variant<Available, Message>;

/// Receives notifications on a provider-owned thread. It must return
/// quickly and must not throw (hand the notification to an actor and
/// return).
using NotificationHandler = std::function<void(MessageNotification)>;

/// Returns the queue a notification is about.
inline const std::string& queue_of(const MessageNotification& n) {
  if (auto available = std::get_if<Available>(&n))
    return available->queue;
  return std::get<Message>(n).message.queue;
}

} // namespace tasker::messaging
