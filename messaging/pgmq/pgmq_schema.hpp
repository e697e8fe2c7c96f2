#pragma once

#include "core/result.hpp"
#include "messaging/pgmq/schema_migrations.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace pqxx {
class connection_base;
} // namespace pqxx

namespace tasker::messaging {

/// Where the `pgmq` SQL API of a database comes from.
enum class PgmqSchemaMode {
  /// Tasker's own PGMQ-compatible schema, installed by its migrations.
  own_schema,
  /// The real `pgmq` extension (`pg_extension` lists it); left untouched.
  extension,
};

/// The migrations of the own schema, in version order, recorded in
/// `public.tasker_schema_migrations` under component `pgmq`.
std::span<const SchemaMigration> pgmq_migrations();

/// Makes the `pgmq` SQL API available on the connection's database. When the
/// real extension is installed, checks that it is recent enough (1.10 or
/// later: `message_record` has `last_read_at`) and changes nothing.
/// Otherwise applies the missing own migrations, each recorded in
/// `public.tasker_schema_migrations(component, version, name, applied_at)`,
/// all in one transaction that holds a transaction-level advisory lock, so
/// re-running is a no-op and nodes starting at once wait for each other.
core::Result<PgmqSchemaMode>
install_or_verify_pgmq_schema(pqxx::connection_base& connection);

} // namespace tasker::messaging
