#include "messaging/pgmq/schema_migrations.hpp"

#include "core/logger.hpp"

#include <pqxx/pqxx>

#include <set>
#include <string>

namespace tasker::messaging {

void lock_schema_migrations(pqxx::dbtransaction& tx) {
  tx.exec("SELECT pg_advisory_xact_lock("
          "hashtextextended('tasker_schema_migrations', 0))");
}

std::vector<const SchemaMigration*>
apply_missing_migrations(pqxx::dbtransaction& tx, std::string_view component,
                         std::span<const SchemaMigration> migrations) {
  tx.exec0("CREATE TABLE IF NOT EXISTS public.tasker_schema_migrations ("
           "component text NOT NULL, version integer NOT NULL, name text NOT "
           "NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
           "PRIMARY KEY (component, version))");
  std::set<int32_t> applied;
  for (const auto& row :
       tx.exec_params("SELECT version FROM public.tasker_schema_migrations "
                      "WHERE component = $1",
                      std::string{component}))
    applied.insert(row[0].as<int32_t>());
  std::vector<const SchemaMigration*> applying;
  for (const auto& migration : migrations) {
    if (applied.count(migration.version) != 0)
      continue;
    tx.exec(std::string{migration.sql});
    tx.exec_params0("INSERT INTO public.tasker_schema_migrations "
                    "(component, version, name) VALUES ($1, $2, $3)",
                    std::string{component}, migration.version,
                    std::string{migration.name});
    applying.push_back(&migration);
  }
  return applying;
}

void log_applied_migrations(
    std::string_view component,
    const std::vector<const SchemaMigration*>& applied) {
  for (const auto* migration : applied)
    core::log_info(component, "applied schema migration "
                                  + std::to_string(migration->version) + " ("
                                  + std::string{migration->name} + ")");
}

} // namespace tasker::messaging
