#pragma once

#include "messaging/provider_checks.hpp"

#include "core/result.hpp"
#include "messaging/rabbitmq/amqp_session.hpp"
#include "messaging/rabbitmq/rabbitmq_provider.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace tasker::messaging {

/// Returns `{queue}_delay_{ms}`, the TTL queue that holds messages for
/// `queue` during a delay. Internal: not a contract queue name.
std::string delay_queue_name(std::string_view queue,
                             std::chrono::milliseconds delay);

/// Declares a queue as Tasker wants it, on the admin channel, as a durable
/// queue of `options.queue_type`:
/// - `{queue}_dlq`: such a queue;
/// - any other queue: a fanout exchange `{queue}_dlx` bound to the queue
///   `{queue}_dlq`, then the queue itself with `x-dead-letter-exchange =
///   {queue}_dlx` and, for a quorum queue, `x-delivery-limit =
///   max_deliveries` (the broker's own backstop: the provider dead-letters
///   one delivery earlier), then its topic bindings.
/// A declaration the broker refuses because the queue or exchange exists
/// with other properties fails with `declaration_conflict` naming the
/// property, or, under `DeclarationConflictPolicy::warn`, is logged and
/// skipped.
core::Result<void> declare_queue_topology(AmqpSession& session,
                                          const RabbitMqOptions& options,
                                          const std::string& queue,
                                          DeclarationConflictPolicy policy);

/// Declares (or renews) the delay queue of `queue` for `delay`: a durable
/// classic queue whose messages expire after `delay` and are dead-lettered
/// back to `queue` through the default exchange. Its `x-expires` deletes it
/// a minute after its last use. Returns its name.
core::Result<std::string> declare_delay_queue(AmqpSession& session,
                                              const std::string& queue,
                                              std::chrono::milliseconds delay);

/// Declares the configured topic exchange (none configured: nothing).
core::Result<void> declare_topic_exchange(AmqpSession& session,
                                          const RabbitMqOptions& options,
                                          DeclarationConflictPolicy policy);

} // namespace tasker::messaging
