#include "config/node_config.hpp"

namespace tasker::config {

std::string_view to_string(MessagingBackend backend) {
  switch (backend) {
    case MessagingBackend::pgmq: return "pgmq";
    case MessagingBackend::rabbitmq: return "rabbitmq";
    case MessagingBackend::in_memory: return "in_memory";
  }
  return "in_memory";
}

std::optional<MessagingBackend> parse_messaging_backend(std::string_view text) {
  if (text == "pgmq")
    return MessagingBackend::pgmq;
  if (text == "rabbitmq")
    return MessagingBackend::rabbitmq;
  if (text == "in_memory")
    return MessagingBackend::in_memory;
  return std::nullopt;
}

} // namespace tasker::config
