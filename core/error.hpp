#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tasker::core {

/// The one error enum of Tasker, modelled on `caf::sec`. It is the only error
/// type that crosses actor and layer boundaries; driver exceptions are
/// translated into it once, at the driver edge.
enum class ErrorCode : uint8_t {
  /// No error.
  none = 0,
  /// A configuration value or file was rejected; the message names the key.
  invalid_config,
  /// An argument was rejected before any I/O (bad queue name, bad id, ...).
  invalid_argument,
  /// A task template failed to parse or validate.
  invalid_template,
  /// A named queue does not exist.
  queue_not_found,
  /// A message id is unknown or no longer held by the caller.
  message_not_found,
  /// A payload is larger than the provider accepts.
  payload_too_large,
  /// The database or broker did not answer; safe to retry.
  backend_unavailable,
  /// The database or broker answered with an error.
  backend_error,
  /// A queue exists with other properties than the ones declared.
  declaration_conflict,
  /// The provider or component does not support the operation.
  unsupported,
  /// An operation did not finish in time.
  timeout,
  /// A resource (task, step, template, file) does not exist.
  not_found,
  /// A guarded state transition found another state; nothing changed.
  stale_transition,
  /// A duplicate (idempotency key, message) was detected.
  duplicate,
  /// A file could not be read or written.
  io_error,
  /// An invariant was broken: a bug in Tasker.
  internal,
};

/// Returns the enumerator's name, e.g. "invalid_config".
std::string_view to_string(ErrorCode code);

/// An error value: a code plus a human-readable message naming the culprit
/// (key, queue, file, step).
class Error {
 public:
  Error() = default;

  Error(ErrorCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  ErrorCode code() const noexcept {
    return code_;
  }

  const std::string& message() const noexcept {
    return message_;
  }

  /// Returns "code: message".
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::none;
  std::string message_;
};

} // namespace tasker::core
