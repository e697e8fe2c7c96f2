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

std::optional<std::pair<std::string, std::string>>
split_assignment(std::string_view item) {
  auto eq = item.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()
      || item.find('=', eq + 1) != std::string_view::npos)
    return std::nullopt;
  return std::pair{std::string{item.substr(0, eq)},
                   std::string{item.substr(eq + 1)}};
}

} // namespace tasker::config
