// Proves the test database is a real, usable PostgreSQL 15 server.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "tests/integration/test_servers.hpp"

using tasker::testing::database_url;
using tasker::testing::unique_name;

namespace {

struct notice {
  std::string payload;
  int backend_pid;
};

class recorder : public pqxx::notification_receiver {
 public:
  recorder(pqxx::connection_base& conn, const std::string& channel)
      : pqxx::notification_receiver(conn, channel) {}

  void operator()(const std::string& payload, int backend_pid) override {
    received.push_back({payload, backend_pid});
  }

  std::vector<notice> received;
};

// Waits up to ten seconds for the receiver to hear something.
void await_notice(pqxx::connection& conn, const recorder& rec) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::seconds{10};
  while (rec.received.empty() && clock::now() < deadline)
    conn.await_notification(0, 200'000);
}

} // namespace

TEST_CASE("the test database is a PostgreSQL 15 server") {
  pqxx::connection conn{database_url()};
  pqxx::work tx{conn};
  auto version = tx.exec1("SHOW server_version")[0].as<std::string>();
  CHECK_MESSAGE(version.rfind("15", 0) == 0, "server_version is " << version);
}

TEST_CASE("rows inserted into a temporary table can be selected back") {
  pqxx::connection conn{database_url()};
  pqxx::work tx{conn};
  auto table = tx.quote_name(unique_name("smoke"));
  tx.exec0("CREATE TEMP TABLE " + table
           + " (id integer PRIMARY KEY, body text NOT NULL)");
  tx.exec_params0("INSERT INTO " + table + " VALUES ($1, $2), ($3, $4)", 1,
                  "first", 2, "second");
  auto rows = tx.exec("SELECT id, body FROM " + table + " ORDER BY id");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][0].as<int>() == 1);
  CHECK(rows[0][1].as<std::string>() == "first");
  CHECK(rows[1][0].as<int>() == 2);
  CHECK(rows[1][1].as<std::string>() == "second");
  auto count = tx.exec_params1(
      "SELECT count(*) FROM " + table + " WHERE body = $1", "second");
  CHECK(count[0].as<long>() == 1);
}

TEST_CASE("a notification sent from one connection reaches a listener on "
          "another") {
  auto channel = unique_name("smoke");
  pqxx::connection listener{database_url()};
  recorder rec{listener, channel};
  pqxx::connection sender{database_url()};
  {
    pqxx::work tx{sender};
    tx.exec_params1("SELECT pg_notify($1, $2)", channel, "hello listener");
    tx.commit();
  }
  await_notice(listener, rec);
  REQUIRE(rec.received.size() == 1);
  CHECK(rec.received[0].payload == "hello listener");
  CHECK(rec.received[0].backend_pid == sender.backendpid());
}

TEST_CASE("a listening connection hears its own notifications") {
  auto channel = unique_name("smoke");
  pqxx::connection conn{database_url()};
  recorder rec{conn, channel};
  {
    pqxx::work tx{conn};
    tx.exec_params1("SELECT pg_notify($1, $2)", channel, "hello myself");
    tx.commit();
  }
  await_notice(conn, rec);
  REQUIRE(rec.received.size() == 1);
  CHECK(rec.received[0].payload == "hello myself");
  CHECK(rec.received[0].backend_pid == conn.backendpid());
}
