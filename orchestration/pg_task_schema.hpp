#pragma once

#include "core/result.hpp"
#include "messaging/pgmq/schema_migrations.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace pqxx {
class connection_base;
} // namespace pqxx

namespace tasker::orchestration {

/// The migrations of the `tasker` schema, in version order, recorded in
/// `public.tasker_schema_migrations` under component `tasker`.
std::span<const messaging::SchemaMigration> task_schema_migrations();

/// Creates or upgrades the `tasker` schema (tasks, steps, edges, history,
/// dead letters, outbox) on the connection's database: applies the missing
/// migrations in one transaction that holds a transaction-level advisory
/// lock, so re-running is a no-op and nodes starting at once wait for each
/// other. Independent of PGMQ: the tasks may live in another database.
core::Result<void> install_task_schema(pqxx::connection_base& connection);

/// Translates the exception being handled (call it only inside a `catch`
/// block) with `messaging::current_pg_error`, worded for the task store:
/// "task store <operation>[ on queue 'q']: <detail>". Serialization
/// failures and deadlocks (SQLSTATE 40001, 40P01) become
/// `backend_unavailable`: nothing was written and a retry may succeed.
core::Error current_task_store_error(std::string_view operation,
                                     std::string_view queue = {});

} // namespace tasker::orchestration
