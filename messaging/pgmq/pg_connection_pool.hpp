// The PostgreSQL connection pool of the PGMQ provider and the task store,
// and how they open its first connection.
//
// `PooledConnection`, `ConnectionLease` and `ConnectionPool` share this
// header: they are one unit. The pool alone creates pooled connections and
// lends them only as leases, and a lease hands its connection back through
// the pool's private release and forget.
#pragma once

#include "core/error.hpp"
#include "core/result.hpp"

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <pqxx/connection>

namespace tasker::messaging {

/// Translates the exception being handled into an error, for an operation
/// and (when not empty) a queue: `current_pg_error` or a wrapper of it.
using CurrentError
    = core::Error (*)(std::string_view operation, std::string_view queue);

/// How a pool's connections plan their prepared statements. Always
/// generically (`plan_cache_mode = force_generic_plan`), so a statement is
/// planned once per connection, not at every execution. `by_key` also
/// turns sequential scans off, for owners whose every statement reaches
/// rows by an index (the PGMQ provider: by message id, or in id order; the
/// task store, whose writes also delete from a queue table): a
/// generic plan made while a queue table was small or just vacuumed
/// scanned all of it, dead rows included, at every execution once it had
/// grown again.
enum class Planning { generic, by_key };

/// A pool's first connection, opened before the pool so that its owner can
/// install or check its schema on it.
struct FirstConnection {
  /// The connection string with its connect timeout, for the pool.
  std::string conninfo;
  /// "host:port" of the server (never the user or password), for messages.
  std::string endpoint;
  /// The open connection, for `ConnectionPool::adopt`.
  std::unique_ptr<pqxx::connection> connection;
};

/// Opens the first connection of `owner`'s pool (owner names it in errors:
/// "pgmq", "task store"): checks that `pool_size` is at least 1, sets
/// `connect_timeout` on `url` (a URL or key=value string) unless it sets
/// one, and makes up to `connect_retries` (at least one) attempts, with a
/// backoff doubling from 100 ms to at most 5 s, logging each failure as
/// `component`. When all fail: a `backend_unavailable` error naming the
/// host, the number of attempts and the last failure as `current_error`
/// words it. The connection plans as `planning` says.
core::Result<FirstConnection>
open_first_connection(std::string_view owner, const std::string& url,
                      std::chrono::seconds connect_timeout, int connect_retries,
                      int pool_size, std::string_view component,
                      CurrentError current_error,
                      Planning planning = Planning::generic);

/// A pooled connection and the statements already prepared on it.
struct PooledConnection {
  /// The connection itself.
  std::unique_ptr<pqxx::connection> connection;
  /// The names of the statements prepared on `connection`.
  std::unordered_set<std::string> prepared;

  /// Returns `name`, preparing `sql` under it on this connection first if
  /// needed (libpqxx sends the PREPARE with the first execution).
  std::string statement(const std::string& name, std::string_view sql);

  /// Returns `name`, preparing the SQL that `make_sql()` returns under it on
  /// this connection first if needed. `make_sql` runs only then, so SQL
  /// built for the statement (expanded for a queue, say) is built once per
  /// connection.
  template <std::invocable MakeSql>
  std::string statement(const std::string& name, MakeSql&& make_sql) {
    if (prepared.count(name) == 0) {
      connection->prepare(name, std::forward<MakeSql>(make_sql)());
      prepared.insert(name);
    }
    return name;
  }

  /// True when the server closed the connection while it sat idle: the
  /// terminating message and the end of stream are already in the socket.
  bool found_dead();
};

class ConnectionPool;

/// A connection borrowed from a `ConnectionPool`; returned to it on
/// destruction unless discarded.
class ConnectionLease {
 public:
  /// Takes over the connection `other` holds.
  ConnectionLease(ConnectionLease&& other) noexcept;

  ConnectionLease& operator=(ConnectionLease&&) = delete;

  /// Returns the connection to the pool unless it was discarded.
  ~ConnectionLease();

  /// The borrowed connection.
  PooledConnection& operator*() {
    return *pooled_;
  }

  /// The borrowed connection.
  PooledConnection* operator->() {
    return pooled_.get();
  }

  /// Drops the connection (it broke) and frees its place in the pool.
  void discard();

  /// Discards the connection when it is no longer open.
  void discard_if_closed();

 private:
  friend class ConnectionPool;

  ConnectionLease(ConnectionPool& pool,
                  std::unique_ptr<PooledConnection> pooled);

  ConnectionPool* pool_;
  std::unique_ptr<PooledConnection> pooled_;
};

/// A blocking pool: at most `size` connections to `conninfo`, opened on
/// demand.
class ConnectionPool {
 public:
  /// A pool of at most `size` (at least one) connections to `conninfo`,
  /// which plan as `planning` says.
  ConnectionPool(std::string conninfo, std::size_t size,
                 Planning planning = Planning::generic);

  /// Takes an open connection into the pool.
  void adopt(std::unique_ptr<pqxx::connection> connection);

  /// Lends a live connection: waits for a free one, opening one while the
  /// pool is not full. Idle connections the server closed are replaced
  /// first. Throws `pqxx::broken_connection` when a new one cannot be
  /// opened.
  ConnectionLease acquire();

 private:
  friend class ConnectionLease;

  // Waits for a free connection, live or not, or opens one.
  std::unique_ptr<PooledConnection> take();

  void release(std::unique_ptr<PooledConnection> pooled);

  // Frees the place of a connection that was dropped.
  void forget();

  std::string conninfo_;
  std::size_t size_;
  Planning planning_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<PooledConnection>> idle_;
  std::size_t open_ = 0;
};

} // namespace tasker::messaging
