#pragma once

#include "tests/integration/test_servers.hpp"

#include <pqxx/pqxx>

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// Test helpers that act on the test PostgreSQL server from outside the
/// code under test: scratch databases, tagging a provider's connections and
/// cutting them.
namespace tasker::testing {

/// A database of its own on the test server, created with a unique name
/// and dropped (with any connections still on it) on destruction.
class ScratchDatabase {
 public:
  /// Creates the database `unique_name(prefix)`.
  explicit ScratchDatabase(std::string_view prefix)
      : name_(unique_name(prefix)) {
    pqxx::connection admin{database_url()};
    pqxx::nontransaction tx{admin};
    tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
  }

  ScratchDatabase(const ScratchDatabase&) = delete;

  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  ~ScratchDatabase() {
    try {
      pqxx::connection admin{database_url()};
      pqxx::nontransaction tx{admin};
      tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_)
               + " WITH (FORCE)");
    } catch (const std::exception&) {
      // Best effort: a leftover scratch database harms no other test.
    }
  }

  /// The test database's URL with this database's name instead.
  std::string url() const {
    auto url = database_url();
    auto query = url.find('?');
    auto slash = url.rfind('/', query);
    return url.substr(0, slash + 1) + name_
           + (query == std::string::npos ? "" : url.substr(query));
  }

 private:
  std::string name_;
};

/// Returns `url` with `application_name=app`, so the server shows which
/// backends belong to the connections opened with it.
inline std::string with_application_name(const std::string& url,
                                         const std::string& app) {
  return url + (url.find('?') == std::string::npos ? "?" : "&")
         + "application_name=" + app;
}

/// Runs one statement on a fresh connection of its own.
template <class... Args>
pqxx::result admin_exec(const std::string& sql, Args&&... args) {
  pqxx::connection admin{database_url()};
  pqxx::nontransaction tx{admin};
  return tx.exec_params(sql, std::forward<Args>(args)...);
}

/// The backends of connections named `app` that match `extra_condition`
/// (SQL over pg_stat_activity, e.g. "query LIKE 'LISTEN%'").
inline std::vector<int> backends_of(const std::string& app,
                                    const std::string& extra_condition
                                    = "true") {
  std::vector<int> pids;
  for (const auto& row :
       admin_exec("SELECT pid FROM pg_stat_activity WHERE application_name = "
                  "$1 AND "
                      + extra_condition + " ORDER BY pid",
                  app))
    pids.push_back(row[0].as<int>());
  return pids;
}

/// Terminates those backends and waits (up to 5 s each) until they are gone.
inline std::size_t terminate_backends_of(const std::string& app,
                                         const std::string& extra_condition
                                         = "true") {
  auto pids = backends_of(app, extra_condition);
  for (int pid : pids)
    admin_exec("SELECT pg_terminate_backend($1, 5000)", pid);
  return pids.size();
}

} // namespace tasker::testing
