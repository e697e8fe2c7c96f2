#pragma once

#include "core/result.hpp"
#include "messaging/queued_message.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tasker::messaging {

// The argument checks and error values every provider shares, so that the
// same mistake gets the same message whatever the provider.

/// Returns "provider operation on queue 'q'" (without the queue part when
/// `queue` is empty): the prefix of every driver error message.
std::string operation_context(std::string_view provider,
                              std::string_view operation,
                              std::string_view queue);

/// Returns true for a `{queue}_dlq` name.
bool is_dead_letter_queue(std::string_view queue);

/// Returns `queue_not_found`: "queue 'q' does not exist".
core::Error queue_not_found(const std::string& queue);

/// Returns `message_not_found`: "message 7 not found in queue 'q'".
core::Error message_not_found(const std::string& queue, int64_t id);

/// Checks a queue name and, unless it is a dead-letter queue, the name of
/// its dead-letter queue (both must pass `config::validate_queue_name`).
core::Result<void> check_creatable(const std::string& queue);

/// Checks a payload against `limit` bytes (`payload_too_large`, naming the
/// queue, the size and the limit).
core::Result<void> check_size(const std::string& queue,
                              const OutgoingMessage& message,
                              std::size_t limit);

/// Rejects a negative visibility timeout (`invalid_argument`).
core::Result<void> check_timeout(const std::string& queue,
                                 std::string_view operation,
                                 std::chrono::seconds timeout);

} // namespace tasker::messaging
