#pragma once

#include "core/result.hpp"

#include <optional>
#include <string>
#include <string_view>

#include <amqp.h>

namespace tasker::messaging {

/// The property RabbitMQ names when a declaration differs from the existing
/// queue or exchange (PRECONDITION_FAILED, "inequivalent arg 'x' for ...").
struct DeclarationMismatch {
  /// The argument or flag that differs: "x-queue-type", "durable", "type".
  std::string property;
  /// The broker's account of the difference: "received 'quorum' but current
  /// is 'classic'".
  std::string detail;
};

/// Parses the reply text of a PRECONDITION_FAILED channel close; empty when
/// the text is not about an inequivalent argument.
std::optional<DeclarationMismatch>
parse_declaration_mismatch(std::string_view reply_text);

/// Translates a rabbitmq-c RPC reply into a `core::Error`: the one place
/// where broker and library failures become error values. The message names
/// the AMQP method and, when not empty, the queue.
/// - normal reply → success
/// - library exception (socket error, heartbeat or RPC timeout) and
///   connection.close → `backend_unavailable`
/// - channel.close 404 NOT_FOUND → `queue_not_found`
/// - channel.close 406 naming an inequivalent argument →
///   `declaration_conflict` naming the property
/// - any other channel.close → `backend_error` with the reply code
core::Result<void> check_amqp(const amqp_rpc_reply_t& reply,
                              std::string_view operation,
                              std::string_view queue);

/// Translates a rabbitmq-c status code (`amqp_status_enum`) of a call that
/// wrote or read the socket: anything but `AMQP_STATUS_OK` →
/// `backend_unavailable`.
core::Result<void> check_status(int status, std::string_view operation,
                                std::string_view queue);

/// Returns "rabbitmq <operation> on queue '<queue>'" (without the queue
/// part when it is empty): the prefix of every error message.
std::string amqp_context(std::string_view operation, std::string_view queue);

/// Returns the text of AMQP bytes.
inline std::string to_string(amqp_bytes_t bytes) {
  if (bytes.len == 0)
    return {};
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}

} // namespace tasker::messaging
