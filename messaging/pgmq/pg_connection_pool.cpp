#include "messaging/pgmq/pg_connection_pool.hpp"

#include <pqxx/nontransaction>

#include "core/logger.hpp"

#include <algorithm>
#include <thread>

#include <poll.h>

#include <pqxx/except>

namespace tasker::messaging {

namespace {

bool is_url(std::string_view conninfo) {
  return conninfo.starts_with("postgresql://")
         || conninfo.starts_with("postgres://");
}

std::string with_connect_timeout(std::string conninfo,
                                 std::chrono::seconds timeout) {
  if (conninfo.find("connect_timeout=") != std::string::npos)
    return conninfo;
  auto setting = "connect_timeout=" + std::to_string(timeout.count());
  if (is_url(conninfo))
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&")
           + setting;
  return conninfo + (conninfo.empty() ? "" : " ") + setting;
}

// Returns "host:port" of a URL or key=value connection string; libpq's
// defaults stand in for what it leaves out.
std::string endpoint_of(std::string_view conninfo) {
  std::string host;
  std::string port;
  auto take = [&](std::string_view key, std::string_view value) {
    if (key == "host" || (key == "hostaddr" && host.empty()))
      host = value;
    else if (key == "port")
      port = value;
  };
  if (is_url(conninfo)) {
    auto rest = conninfo.substr(conninfo.find("://") + 3);
    auto authority = rest.substr(0, rest.find_first_of("/?"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
      authority.remove_prefix(at + 1);
    auto colon = authority.rfind(':');
    auto bracket = authority.rfind(']');
    if (colon != std::string_view::npos
        && (bracket == std::string_view::npos || colon > bracket)) {
      take("host", authority.substr(0, colon));
      take("port", authority.substr(colon + 1));
    } else {
      take("host", authority);
    }
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      auto query = rest.substr(q + 1);
      while (!query.empty()) {
        auto pair = query.substr(0, query.find('&'));
        if (auto eq = pair.find('='); eq != std::string_view::npos)
          take(pair.substr(0, eq), pair.substr(eq + 1));
        query.remove_prefix(std::min(query.size(), pair.size() + 1));
      }
    }
  } else {
    std::size_t pos = 0;
    while (pos < conninfo.size()) {
      auto eq = conninfo.find('=', pos);
      if (eq == std::string_view::npos)
        break;
      auto key = conninfo.substr(pos, eq - pos);
      while (!key.empty() && key.front() == ' ')
        key.remove_prefix(1);
      while (!key.empty() && key.back() == ' ')
        key.remove_suffix(1);
      auto value_start = conninfo.find_first_not_of(' ', eq + 1);
      if (value_start == std::string_view::npos)
        break;
      std::string value;
      if (conninfo[value_start] == '\'') {
        pos = value_start + 1;
        while (pos < conninfo.size() && conninfo[pos] != '\'') {
          if (conninfo[pos] == '\\' && pos + 1 < conninfo.size())
            ++pos;
          value += conninfo[pos++];
        }
        ++pos;
      } else {
        auto end = conninfo.find(' ', value_start);
        if (end == std::string_view::npos)
          end = conninfo.size();
        value = conninfo.substr(value_start, end - value_start);
        pos = end;
      }
      take(key, value);
    }
  }
  return (host.empty() ? "localhost" : host) + ":"
         + (port.empty() ? "5432" : port);
}

std::unique_ptr<pqxx::connection> open_connection(const std::string& conninfo,
                                                  Planning planning) {
  auto connection = std::make_unique<pqxx::connection>(conninfo);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // A broken connection is replaced by the pool, never silently revived by
  // libpqxx in the middle of an operation or a transaction.
  connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  // The prepared statements run thousands of times with parameters that do
  // not change their best plan; with custom plans the server planned every
  // execution again (0.3-0.6 ms each, more than most executions). No JIT:
  // it compiles at every execution of a plan whose cost passes its
  // threshold, as every plan with a disabled sequential scan does (a count
  // of 89,000 tasks by state: 190 ms of compiling for 25 ms of scanning).
  pqxx::nontransaction{*connection}.exec0(
      planning == Planning::by_key
          ? "SET plan_cache_mode = force_generic_plan; SET jit = off; SET "
            "enable_seqscan = off"
          : "SET plan_cache_mode = force_generic_plan; SET jit = off");
  return connection;
}

} // namespace

core::Result<FirstConnection>
open_first_connection(std::string_view owner, const std::string& url,
                      std::chrono::seconds connect_timeout, int connect_retries,
                      int pool_size, std::string_view component,
                      CurrentError current_error, Planning planning) {
  if (pool_size < 1)
    return core::Error{core::ErrorCode::invalid_config,
                       std::string{owner}
                           + " pool_size must be at least 1, not "
                           + std::to_string(pool_size)};
  FirstConnection first;
  first.conninfo = with_connect_timeout(url, connect_timeout);
  first.endpoint = endpoint_of(first.conninfo);
  auto attempts = std::max(1, connect_retries);
  auto backoff = std::chrono::milliseconds{100};
  std::string last_error;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    try {
      first.connection = open_connection(first.conninfo, planning);
      return first;
    } catch (...) {
      last_error = current_error("connect", {}).message();
      core::log_debug(component, "connection attempt " + std::to_string(attempt)
                                     + " to " + first.endpoint
                                     + " failed: " + last_error);
      if (attempt < attempts) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds{5000});
      }
    }
  }
  return core::Error{core::ErrorCode::backend_unavailable,
                     "cannot connect to PostgreSQL at " + first.endpoint
                         + " after " + std::to_string(attempts) + " attempt"
                         + (attempts == 1 ? "" : "s") + ": " + last_error};
}

// -- PooledConnection ---------------------------------------------------------

std::string PooledConnection::statement(const std::string& name,
                                        std::string_view sql) {
  return statement(name, [sql] {
    return std::string{sql};
  });
}

bool PooledConnection::found_dead() {
  for (int i = 0; i < 4; ++i) {
    if (!connection->is_open())
      return true;
    pollfd fd{connection->sock(), POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0)
      return false;
    try {
      connection->get_notifs();
    } catch (const pqxx::broken_connection&) {
      return true;
    }
  }
  return !connection->is_open();
}

// -- ConnectionLease ----------------------------------------------------------

ConnectionLease::ConnectionLease(ConnectionPool& pool,
                                 std::unique_ptr<PooledConnection> pooled)
    : pool_(&pool), pooled_(std::move(pooled)) {}

ConnectionLease::ConnectionLease(ConnectionLease&& other) noexcept
    : pool_(other.pool_), pooled_(std::move(other.pooled_)) {}

ConnectionLease::~ConnectionLease() {
  if (pooled_)
    pool_->release(std::move(pooled_));
}

void ConnectionLease::discard() {
  if (pooled_) {
    pooled_.reset();
    pool_->forget();
  }
}

void ConnectionLease::discard_if_closed() {
  if (pooled_ && !pooled_->connection->is_open())
    discard();
}

// -- ConnectionPool -----------------------------------------------------------

ConnectionPool::ConnectionPool(std::string conninfo, std::size_t size,
                               Planning planning)
    : conninfo_(std::move(conninfo)), size_(std::max<std::size_t>(1, size)),
      planning_(planning) {}

void ConnectionPool::adopt(std::unique_ptr<pqxx::connection> connection) {
  auto pooled = std::make_unique<PooledConnection>();
  pooled->connection = std::move(connection);
  std::lock_guard<std::mutex> guard{mutex_};
  ++open_;
  idle_.push_back(std::move(pooled));
}

ConnectionLease ConnectionPool::acquire() {
  for (std::size_t i = 0; i <= size_; ++i) {
    ConnectionLease lease{*this, take()};
    if (!lease->found_dead())
      return lease;
    lease.discard();
  }
  return ConnectionLease{*this, take()};
}

std::unique_ptr<PooledConnection> ConnectionPool::take() {
  std::unique_lock<std::mutex> lock{mutex_};
  available_.wait(lock, [&] {
    return !idle_.empty() || open_ < size_;
  });
  if (!idle_.empty()) {
    auto pooled = std::move(idle_.back());
    idle_.pop_back();
    return pooled;
  }
  ++open_;
  lock.unlock();
  try {
    auto pooled = std::make_unique<PooledConnection>();
    pooled->connection = open_connection(conninfo_, planning_);
    return pooled;
  } catch (...) {
    forget();
    throw;
  }
}

void ConnectionPool::release(std::unique_ptr<PooledConnection> pooled) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    idle_.push_back(std::move(pooled));
  }
  available_.notify_one();
}

void ConnectionPool::forget() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    --open_;
  }
  available_.notify_one();
}

} // namespace tasker::messaging
