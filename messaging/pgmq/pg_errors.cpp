#include "messaging/pgmq/pg_errors.hpp"

#include "messaging/provider_checks.hpp"

#include <exception>
#include <new>

#include <pqxx/pqxx>

namespace tasker::messaging {

namespace {

using core::Error;
using core::ErrorCode;

std::string context(std::string_view operation, std::string_view queue) {
  return operation_context("pgmq", operation, queue);
}

bool is_connection_state(const std::string& sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

} // namespace

std::string first_line(std::string_view text) {
  auto end = text.find('\n');
  auto line = text.substr(0, end);
  while (!line.empty()
         && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t'))
    line.remove_suffix(1);
  return std::string{line};
}

core::Error current_pg_error(std::string_view operation,
                             std::string_view queue) {
  auto where = context(operation, queue);
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return Error{ErrorCode::backend_unavailable,
                 where + ": connection lost while committing, the outcome is "
                     + "unknown: " + first_line(e.what())};
  } catch (const pqxx::statement_completion_unknown& e) {
    return Error{ErrorCode::backend_unavailable,
                 where + ": connection lost, the outcome is unknown: "
                     + first_line(e.what())};
  } catch (const pqxx::broken_connection& e) {
    auto detail = first_line(e.what());
    return Error{ErrorCode::backend_unavailable,
                 where + ": database connection failed"
                     + (detail.empty() ? "" : ": " + detail)};
  } catch (const pqxx::sql_error& e) {
    const auto& state = e.sqlstate();
    auto detail = first_line(e.what());
    if (state == "42P01")
      return Error{ErrorCode::queue_not_found,
                   where + ": queue does not exist (" + detail + ")"};
    if (state == "22P02" || state == "22P05")
      return Error{ErrorCode::invalid_argument,
                   where + ": payload is not JSON (" + detail + ")"};
    if (is_connection_state(state))
      return Error{ErrorCode::backend_unavailable,
                   where + ": " + detail + " (SQLSTATE " + state + ")"};
    return Error{ErrorCode::backend_error,
                 where + ": " + detail
                     + (state.empty() ? "" : " (SQLSTATE " + state + ")")};
  } catch (const pqxx::failure& e) {
    return Error{ErrorCode::backend_error, where + ": " + first_line(e.what())};
  } catch (const std::bad_alloc&) {
    return Error{ErrorCode::internal, where + ": out of memory"};
  } catch (const std::exception& e) {
    return Error{ErrorCode::internal, where + ": " + first_line(e.what())};
  } catch (...) {
    return Error{ErrorCode::internal, where + ": unknown exception"};
  }
}

} // namespace tasker::messaging
