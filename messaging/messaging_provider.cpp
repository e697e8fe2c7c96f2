#include "messaging/messaging_provider.hpp"

#include "core/logger.hpp"

namespace tasker::messaging {

void MessagingProvider::dead_letter_logged(std::string_view component,
                                           const std::string& queue, int64_t id,
                                           const std::string& why) {
  core::log_warn(component, "message " + std::to_string(id) + " of '" + queue
                                + "' moved to the dead-letter queue: " + why);
  if (auto moved = nack(queue, id, NackAction::dead_letter(why)); !moved)
    core::log_warn(component,
                   "dead-lettering failed: " + moved.error().to_string());
}

core::Result<MessagingProvider>
MessagingProvider::from_config(const config::NodeConfig& config) {
  using config::MessagingBackend;
  switch (config.messaging_backend) {
    case MessagingBackend::in_memory: {
      InMemoryOptions options;
      options.max_deliveries
          = static_cast<int32_t>(config.in_memory.max_deliveries);
      options.max_message_size
          = static_cast<std::size_t>(config.in_memory.max_message_size_bytes);
      // Items were checked when the configuration was loaded.
      for (auto& item : config.in_memory.queue_prefetch)
        if (auto parts = config::split_assignment(item))
          options.queue_prefetch[parts->first] = std::stoi(parts->second);
      return MessagingProvider{InMemoryProvider{options}};
    }
    case MessagingBackend::pgmq: {
      PgmqOptions options;
      options.url = config.pgmq_url();
      options.pool_size = static_cast<int32_t>(config.database.pool_size);
      options.max_deliveries = static_cast<int32_t>(config.pgmq.max_deliveries);
      options.max_message_size
          = static_cast<std::size_t>(config.pgmq.max_message_size_bytes);
      options.fallback_polling_interval
          = std::chrono::milliseconds{config.pgmq.poll_interval_ms};
      options.connect_retries
          = static_cast<int32_t>(config.database.connect_retries);
      options.connect_timeout
          = std::chrono::seconds{config.database.connect_timeout_seconds};
      auto provider = PgmqProvider::connect(std::move(options));
      if (!provider)
        return provider.error();
      return MessagingProvider{std::move(*provider)};
    }
    case MessagingBackend::rabbitmq: {
      RabbitMqOptions options;
      options.url = config.rabbitmq.url;
      options.prefetch = static_cast<int32_t>(config.rabbitmq.prefetch);
      options.heartbeat
          = std::chrono::seconds{config.rabbitmq.heartbeat_seconds};
      options.connection_timeout
          = std::chrono::seconds{config.rabbitmq.connection_timeout_seconds};
      options.max_deliveries
          = static_cast<int32_t>(config.rabbitmq.max_deliveries);
      options.connect_retries
          = static_cast<int32_t>(config.rabbitmq.connect_retries);
      options.declaration_conflict_policy
          = config.rabbitmq.declaration_conflict_policy == "warn"
                ? DeclarationConflictPolicy::warn
                : DeclarationConflictPolicy::fail;
      options.queue_type = config.rabbitmq.queue_type == "classic"
                               ? QueueType::classic
                               : QueueType::quorum;
      options.push_visibility_timeout = std::chrono::seconds{
          config.rabbitmq.push_visibility_timeout_seconds};
      // Items were checked when the configuration was loaded.
      for (auto& item : config.rabbitmq.queue_prefetch)
        if (auto parts = config::split_assignment(item))
          options.queue_prefetch[parts->first] = std::stoi(parts->second);
      options.topic_exchange = config.rabbitmq.topic_exchange;
      for (auto& item : config.rabbitmq.topic_bindings)
        if (auto parts = config::split_assignment(item))
          options.topic_bindings.push_back({parts->first, parts->second});
      auto provider = RabbitMqProvider::connect(std::move(options));
      if (!provider)
        return provider.error();
      return MessagingProvider{std::move(*provider)};
    }
  }
  return core::Error{core::ErrorCode::internal, "unknown messaging backend"};
}

} // namespace tasker::messaging
