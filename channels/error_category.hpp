#pragma once

#include "channels/type_ids.hpp"
#include "core/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

/// `core::Error` on the CAF side: `caf::error` values of category "tasker".
namespace tasker::channels {

/// The category atom of `core::ErrorCode` inside `caf::error`.
inline constexpr caf::atom_value kErrorCategory = caf::atom("tasker");

/// Registers a renderer for the "tasker" category on `cfg`, so that
/// `actor_system::render` prints "tasker: queue_not_found (no queue x)"
/// instead of raw numbers.
void register_error_category(caf::actor_system_config& cfg);

/// Converts `err` to a `caf::error` of category "tasker" with the message as
/// context. `ErrorCode::none` converts to the empty `caf::error`.
caf::error to_caf_error(const core::Error& err);

/// Converts `err` back. A "tasker" error keeps code and message; the empty
/// error becomes `ErrorCode::none`; `caf::sec::request_timeout` becomes
/// `ErrorCode::timeout`; any other CAF error becomes `ErrorCode::internal`
/// with the CAF error rendered as message.
core::Error from_caf_error(const caf::error& err);

} // namespace tasker::channels
