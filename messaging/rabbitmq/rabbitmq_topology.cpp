#include "messaging/rabbitmq/rabbitmq_topology.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"

namespace tasker::messaging {

namespace {

using namespace std::chrono_literals;

/// How long an unused delay queue outlives its last message.
constexpr std::chrono::milliseconds kDelayQueueGrace = 60s;

core::Result<void> apply_policy(core::Result<void> declared,
                                DeclarationConflictPolicy policy) {
  if (declared
      || declared.error().code() != core::ErrorCode::declaration_conflict
      || policy != DeclarationConflictPolicy::warn)
    return declared;
  core::log_warn("rabbitmq",
                 declared.error().message()
                     + "; using it as it is (declaration_conflict_policy = "
                       "warn)");
  return {};
}

QueueDeclaration durable_queue(std::string name, QueueType type) {
  return {std::move(name),
          {{"x-queue-type",
            std::string{type == QueueType::classic ? "classic" : "quorum"}}}};
}

} // namespace

std::string delay_queue_name(std::string_view queue,
                             std::chrono::milliseconds delay) {
  return std::string{queue} + "_delay_" + std::to_string(delay.count());
}

core::Result<void> declare_queue_topology(AmqpSession& session,
                                          const RabbitMqOptions& options,
                                          const std::string& queue,
                                          DeclarationConflictPolicy policy) {
  if (is_dead_letter_queue(queue))
    return apply_policy(
        session.declare_queue(durable_queue(queue, options.queue_type)),
        policy);
  auto exchange = queue + "_dlx";
  auto dead_letters = config::dead_letter_queue_name(queue);
  if (auto ok = apply_policy(
          session.declare_exchange(exchange, "fanout", queue), policy);
      !ok)
    return ok;
  if (auto ok = apply_policy(session.declare_queue(durable_queue(
                                 dead_letters, options.queue_type)),
                             policy);
      !ok)
    return ok;
  if (auto ok = session.bind_queue(dead_letters, exchange, ""); !ok)
    return ok;
  auto declaration = durable_queue(queue, options.queue_type);
  declaration.arguments.emplace_back("x-dead-letter-exchange", exchange);
  // Classic queues have no delivery limit: the provider's count is all.
  if (options.queue_type == QueueType::quorum)
    declaration.arguments.emplace_back("x-delivery-limit",
                                       int64_t{options.max_deliveries});
  if (auto ok = apply_policy(session.declare_queue(declaration), policy); !ok)
    return ok;
  for (const auto& binding : options.topic_bindings) {
    if (binding.queue != queue)
      continue;
    if (auto ok = apply_policy(
            session.declare_exchange(options.topic_exchange, "topic", queue),
            policy);
        !ok)
      return ok;
    if (auto ok
        = session.bind_queue(queue, options.topic_exchange, binding.pattern);
        !ok)
      return ok;
  }
  return {};
}

core::Result<std::string> declare_delay_queue(AmqpSession& session,
                                              const std::string& queue,
                                              std::chrono::milliseconds delay) {
  QueueDeclaration declaration{delay_queue_name(queue, delay), {}};
  declaration.arguments.emplace_back("x-message-ttl", int64_t{delay.count()});
  declaration.arguments.emplace_back("x-dead-letter-exchange", std::string{});
  declaration.arguments.emplace_back("x-dead-letter-routing-key", queue);
  declaration.arguments.emplace_back(
      "x-expires", int64_t{(delay + kDelayQueueGrace).count()});
  if (auto ok = session.declare_queue(declaration); !ok)
    return ok.error();
  return std::move(declaration.name);
}

core::Result<void> declare_topic_exchange(AmqpSession& session,
                                          const RabbitMqOptions& options,
                                          DeclarationConflictPolicy policy) {
  if (options.topic_exchange.empty())
    return {};
  return apply_policy(
      session.declare_exchange(options.topic_exchange, "topic", ""), policy);
}

} // namespace tasker::messaging
