#include "core/error.hpp"

namespace tasker::core {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::none: return "none";
    case ErrorCode::invalid_config: return "invalid_config";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::invalid_template: return "invalid_template";
    case ErrorCode::queue_not_found: return "queue_not_found";
    case ErrorCode::message_not_found: return "message_not_found";
    case ErrorCode::payload_too_large: return "payload_too_large";
    case ErrorCode::backend_unavailable: return "backend_unavailable";
    case ErrorCode::backend_error: return "backend_error";
    case ErrorCode::declaration_conflict: return "declaration_conflict";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::stale_transition: return "stale_transition";
    case ErrorCode::duplicate: return "duplicate";
    case ErrorCode::io_error: return "io_error";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string out{core::to_string(code_)};
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

} // namespace tasker::core
