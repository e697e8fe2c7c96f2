#include "messaging/provider_checks.hpp"

#include "config/queue_names.hpp"

namespace tasker::messaging {

using core::Error;
using core::ErrorCode;

std::string operation_context(std::string_view provider,
                              std::string_view operation,
                              std::string_view queue) {
  std::string out{provider};
  out += ' ';
  out += operation;
  if (!queue.empty()) {
    out += " on queue '";
    out += queue;
    out += '\'';
  }
  return out;
}

bool is_dead_letter_queue(std::string_view queue) {
  return queue.ends_with(config::kDeadLetterSuffix);
}

Error queue_not_found(const std::string& queue) {
  return {ErrorCode::queue_not_found, "queue '" + queue + "' does not exist"};
}

Error message_not_found(const std::string& queue, int64_t id) {
  return {ErrorCode::message_not_found, "message " + std::to_string(id)
                                            + " not found in queue '" + queue
                                            + "'"};
}

core::Result<void> check_creatable(const std::string& queue) {
  if (auto valid = config::validate_queue_name(queue); !valid)
    return valid;
  if (is_dead_letter_queue(queue))
    return {};
  if (auto valid
      = config::validate_queue_name(config::dead_letter_queue_name(queue));
      !valid)
    return Error{ErrorCode::invalid_argument,
                 "cannot create queue '" + queue
                     + "' with its dead-letter queue: "
                     + valid.error().message()};
  return {};
}

core::Result<void> check_size(const std::string& queue,
                              const OutgoingMessage& message,
                              std::size_t limit) {
  if (message.payload.size() <= limit)
    return {};
  return Error{ErrorCode::payload_too_large,
               "payload of " + std::to_string(message.payload.size())
                   + " bytes for queue '" + queue + "' exceeds the limit of "
                   + std::to_string(limit) + " bytes"};
}

core::Result<void> check_timeout(const std::string& queue,
                                 std::string_view operation,
                                 std::chrono::seconds timeout) {
  if (timeout.count() >= 0)
    return {};
  return Error{ErrorCode::invalid_argument,
               std::string{operation} + " on queue '" + queue
                   + "': negative visibility timeout "
                   + std::to_string(timeout.count()) + " s"};
}

} // namespace tasker::messaging
