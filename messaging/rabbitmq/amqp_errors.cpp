#include "messaging/rabbitmq/amqp_errors.hpp"

#include "messaging/provider_checks.hpp"

namespace tasker::messaging {

namespace {

using core::Error;
using core::ErrorCode;

constexpr uint16_t kNotFound = 404;
constexpr uint16_t kPreconditionFailed = 406;

} // namespace

std::string amqp_context(std::string_view operation, std::string_view queue) {
  return operation_context("rabbitmq", operation, queue);
}

std::optional<DeclarationMismatch>
parse_declaration_mismatch(std::string_view reply_text) {
  constexpr std::string_view marker = "inequivalent arg '";
  auto start = reply_text.find(marker);
  if (start == std::string_view::npos)
    return std::nullopt;
  start += marker.size();
  auto end = reply_text.find('\'', start);
  if (end == std::string_view::npos)
    return std::nullopt;
  DeclarationMismatch out;
  out.property = std::string{reply_text.substr(start, end - start)};
  // The detail follows the vhost: "...in vhost '/': received ...".
  if (auto colon = reply_text.find("': ", end); colon != std::string_view::npos)
    out.detail = std::string{reply_text.substr(colon + 3)};
  return out;
}

core::Result<void> check_amqp(const amqp_rpc_reply_t& reply,
                              std::string_view operation,
                              std::string_view queue) {
  auto where = amqp_context(operation, queue);
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return {};
    case AMQP_RESPONSE_NONE:
      return Error{ErrorCode::backend_unavailable,
                   where + ": no reply from the broker"};
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return Error{ErrorCode::backend_unavailable,
                   where + ": " + amqp_error_string2(reply.library_error)};
    case AMQP_RESPONSE_SERVER_EXCEPTION: break;
  }
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
    return Error{ErrorCode::backend_unavailable,
                 where + ": the broker closed the connection: "
                     + to_string(close->reply_text)};
  }
  if (reply.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
    return Error{ErrorCode::backend_error,
                 where + ": unexpected reply method "
                     + std::to_string(reply.reply.id)};
  auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
  auto text = to_string(close->reply_text);
  if (close->reply_code == kNotFound)
    return Error{ErrorCode::queue_not_found, where + ": " + text};
  if (close->reply_code == kPreconditionFailed) {
    if (auto mismatch = parse_declaration_mismatch(text))
      return Error{ErrorCode::declaration_conflict,
                   where + ": it exists with another '" + mismatch->property
                       + "' (" + mismatch->detail + ")"};
  }
  return Error{ErrorCode::backend_error, where + ": " + text + " (reply code "
                                             + std::to_string(close->reply_code)
                                             + ")"};
}

core::Result<void> check_status(int status, std::string_view operation,
                                std::string_view queue) {
  if (status == AMQP_STATUS_OK)
    return {};
  return Error{ErrorCode::backend_unavailable,
               amqp_context(operation, queue) + ": "
                   + amqp_error_string2(status)};
}

} // namespace tasker::messaging
