#pragma once

#include "core/error.hpp"

#include <string>
#include <string_view>

namespace tasker::messaging {

/// Translates the exception being handled into a `core::Error`: the one
/// place where libpqxx exceptions become error values. Call it only inside
/// a `catch` block. The message names the operation and, when not empty,
/// the queue; of a server message it keeps the first line only (never the
/// SQL text).
/// - `pqxx::broken_connection`, `pqxx::in_doubt_error`,
///   `pqxx::statement_completion_unknown`, SQLSTATE classes 08 and 57P →
///   `backend_unavailable`
/// - SQLSTATE 42P01 (undefined table) → `queue_not_found`
/// - SQLSTATE 22P02, 22P05 (invalid JSON) → `invalid_argument`
/// - any other `pqxx::sql_error` → `backend_error` with the SQLSTATE
/// - anything else → `internal`
core::Error current_pg_error(std::string_view operation,
                             std::string_view queue);

/// Returns the first line of `text`, without trailing whitespace.
std::string first_line(std::string_view text);

} // namespace tasker::messaging
