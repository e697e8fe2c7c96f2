#pragma once

#include "bench/bench_environment.hpp"
#include "bench/node_cluster.hpp"

#include <map>
#include <optional>
#include <string>

#include <pqxx/pqxx>

namespace tasker::bench {

/// CPU seconds used so far by each backend of the database, by pid; nothing
/// when PostgreSQL runs on another machine (its processes are not in
/// /proc here).
inline std::optional<std::map<long, double>>
backend_cpu(const std::string& url) {
  pqxx::connection connection{url};
  pqxx::nontransaction tx{connection};
  std::map<long, double> cpu;
  for (const auto& row :
       tx.exec("SELECT pid FROM pg_stat_activity WHERE datname = "
               "current_database() AND pid <> pg_backend_pid()"))
    if (auto seconds = process_cpu_seconds(row[0].as<long>()))
      cpu[row[0].as<long>()] = *seconds;
  if (cpu.empty())
    return std::nullopt;
  return cpu;
}

/// The CPU time the backends of `after` used since `before` (all of it for
/// a backend that started in between; one that ended in between is lost).
inline double backend_cpu_used(const std::map<long, double>& before,
                               const std::map<long, double>& after) {
  double used = 0;
  for (const auto& [pid, seconds] : after) {
    auto earlier = before.find(pid);
    used += seconds - (earlier == before.end() ? 0 : earlier->second);
  }
  return used;
}

/// CPU seconds the cluster's node processes used so far.
inline double nodes_cpu(NodeCluster& cluster) {
  auto* worker = cluster.worker();
  return cluster.server().cpu_seconds() + (worker ? worker->cpu_seconds() : 0);
}

} // namespace tasker::bench
