#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace pqxx {
class dbtransaction;
} // namespace pqxx

namespace tasker::messaging {

/// One versioned step of a component's schema (append only: never edit an
/// applied step).
struct SchemaMigration {
  int32_t version;
  std::string_view name;
  std::string_view sql;
};

/// Takes the transaction-level advisory lock every schema installation
/// holds, so nodes starting at once wait for each other.
void lock_schema_migrations(pqxx::dbtransaction& tx);

/// Applies, inside `tx`, the steps of `migrations` that are not recorded yet
/// for `component` in `public.tasker_schema_migrations(component, version,
/// name, applied_at)`, records them, and returns them (log them once `tx`
/// committed, with `log_applied_migrations`). Throws libpqxx's exceptions.
std::vector<const SchemaMigration*>
apply_missing_migrations(pqxx::dbtransaction& tx, std::string_view component,
                         std::span<const SchemaMigration> migrations);

/// Logs one line per applied step, under `component`.
void log_applied_migrations(std::string_view component,
                            const std::vector<const SchemaMigration*>& applied);

} // namespace tasker::messaging
