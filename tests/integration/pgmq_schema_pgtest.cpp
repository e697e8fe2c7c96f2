// The own PGMQ-compatible schema: its migrations, and its SQL API called the
// way existing PGMQ clients call it (typed and named like the Rust and
// Python clients, untyped like node-postgres; libpqxx's exec_params sends
// untyped parameters too).
#include <doctest/doctest.h>

#include "messaging/pgmq/pgmq_schema.hpp"
#include "tests/integration/pg_admin.hpp"
#include "tests/integration/test_servers.hpp"

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

using tasker::messaging::install_or_verify_pgmq_schema;
using tasker::messaging::pgmq_migrations;
using tasker::messaging::PgmqSchemaMode;
using tasker::testing::database_url;
using tasker::testing::ScratchDatabase;
using tasker::testing::unique_name;

namespace {

std::vector<std::pair<int, std::string>> applied(pqxx::connection& c) {
  pqxx::nontransaction tx{c};
  std::vector<std::pair<int, std::string>> out;
  for (const auto& row :
       tx.exec("SELECT version, name FROM public.tasker_schema_migrations "
               "WHERE component = 'pgmq' ORDER BY version"))
    out.emplace_back(row[0].as<int>(), row[1].as<std::string>());
  return out;
}

std::vector<std::pair<int, std::string>> expected_migrations() {
  std::vector<std::pair<int, std::string>> out;
  for (const auto& m : pgmq_migrations())
    out.emplace_back(m.version, std::string{m.name});
  return out;
}

// A connection to the shared test database with the schema in place, and
// a queue that is dropped at the end.
struct SchemaFixture {
  pqxx::connection conn{database_url()};
  std::string queue = unique_name("s");

  SchemaFixture() {
    auto mode = install_or_verify_pgmq_schema(conn);
    REQUIRE_MESSAGE(mode.ok(), mode.error().to_string());
    exec("SELECT pgmq.create($1)", queue);
  }

  ~SchemaFixture() {
    try {
      exec("SELECT pgmq.drop_queue($1)", queue);
    } catch (const std::exception&) {
      // The queue may already be gone.
    }
  }

  template <class... Args>
  pqxx::result exec(const std::string& sql, Args&&... args) {
    pqxx::nontransaction tx{conn};
    return tx.exec_params(sql, std::forward<Args>(args)...);
  }

  std::string sqlstate_of(const std::string& sql, const std::string& arg) {
    try {
      exec(sql, arg);
    } catch (const pqxx::sql_error& e) {
      return e.sqlstate().empty() ? "error" : e.sqlstate();
    }
    return {};
  }

  std::string error_of(const std::string& sql, const std::string& arg) {
    try {
      exec(sql, arg);
    } catch (const pqxx::sql_error& e) {
      return e.what();
    }
    return {};
  }
};

std::vector<std::string> columns(const pqxx::result& r) {
  std::vector<std::string> out;
  for (pqxx::row::size_type i = 0; i < r.columns(); ++i)
    out.emplace_back(r.column_name(i));
  return out;
}

// The attribute names of a composite type, in order.
std::vector<std::string> fields_of(pqxx::connection& c,
                                   const std::string& type) {
  pqxx::nontransaction tx{c};
  std::vector<std::string> out;
  for (const auto& row : tx.exec_params(
           "SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) "
           "FROM pg_attribute a WHERE a.attrelid = (SELECT typrelid FROM "
           "pg_type "
           "WHERE oid = $1::regtype) AND a.attnum > 0 AND NOT a.attisdropped "
           "ORDER BY a.attnum",
           type))
    out.push_back(row[0].as<std::string>());
  return out;
}

const std::vector<std::string> kMessageRecordColumns{
    "msg_id", "read_ct", "enqueued_at", "last_read_at",
    "vt",     "message", "headers"};

} // namespace

TEST_CASE("migrations are recorded once and running them again is a no-op") {
  ScratchDatabase db{"pgmq_mig"};
  pqxx::connection conn{db.url()};
  auto first = install_or_verify_pgmq_schema(conn);
  REQUIRE_MESSAGE(first.ok(), first.error().to_string());
  CHECK(*first == PgmqSchemaMode::own_schema);
  CHECK(applied(conn) == expected_migrations());
  std::string stamp;
  {
    pqxx::nontransaction tx{conn};
    stamp = tx.exec1("SELECT max(applied_at)::text FROM "
                     "public.tasker_schema_migrations")[0]
                .as<std::string>();
  }
  auto second = install_or_verify_pgmq_schema(conn);
  REQUIRE_MESSAGE(second.ok(), second.error().to_string());
  CHECK(applied(conn) == expected_migrations());
  pqxx::nontransaction tx{conn};
  CHECK(tx.exec1("SELECT max(applied_at)::text FROM "
                 "public.tasker_schema_migrations")[0]
            .as<std::string>()
        == stamp);
  CHECK(tx.exec1("SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
                 "ON n.oid = p.pronamespace WHERE n.nspname = 'pgmq' "
                 "AND p.proname = 'send'")[0]
            .as<int>()
        == 6);
}

TEST_CASE("four nodes migrating a fresh database at once do not collide") {
  ScratchDatabase db{"pgmq_mig"};
  std::vector<std::string> failures(4);
  std::vector<std::thread> nodes;
  for (int i = 0; i < 4; ++i)
    nodes.emplace_back([&, i] {
      try {
        pqxx::connection conn{db.url()};
        auto mode = install_or_verify_pgmq_schema(conn);
        if (!mode)
          failures[i] = mode.error().to_string();
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  for (auto& node : nodes)
    node.join();
  for (const auto& failure : failures)
    CHECK_MESSAGE(failure.empty(), failure);
  pqxx::connection conn{db.url()};
  CHECK(applied(conn) == expected_migrations());
  pqxx::nontransaction tx{conn};
  tx.exec("SELECT pgmq.create('after_race')");
  CHECK(tx.exec1("SELECT count(*) FROM pgmq.list_queues()")[0].as<int>() == 1);
}

TEST_CASE("the composite types have PGMQ 1.11's fields in PGMQ's order") {
  pqxx::connection conn{database_url()};
  REQUIRE(install_or_verify_pgmq_schema(conn).ok());
  CHECK(fields_of(conn, "pgmq.message_record")
        == std::vector<std::string>{"msg_id bigint", "read_ct integer",
                                    "enqueued_at timestamp with time zone",
                                    "last_read_at timestamp with time zone",
                                    "vt timestamp with time zone",
                                    "message jsonb", "headers jsonb"});
  CHECK(fields_of(conn, "pgmq.queue_record")
        == std::vector<std::string>{
            "queue_name character varying", "is_partitioned boolean",
            "is_unlogged boolean", "created_at timestamp with time zone"});
  CHECK(fields_of(conn, "pgmq.metrics_result")
        == std::vector<std::string>{
            "queue_name text", "queue_length bigint",
            "newest_msg_age_sec integer", "oldest_msg_age_sec integer",
            "total_messages bigint", "scrape_time timestamp with time zone",
            "queue_visible_length bigint"});
}

TEST_CASE("queue tables have PGMQ's layout and an archive table") {
  SchemaFixture f;
  CHECK(fields_of(f.conn, "pgmq.q_" + f.queue)
        == std::vector<std::string>{"msg_id bigint", "read_ct integer",
                                    "enqueued_at timestamp with time zone",
                                    "last_read_at timestamp with time zone",
                                    "vt timestamp with time zone",
                                    "message jsonb", "headers jsonb"});
  CHECK(fields_of(f.conn, "pgmq.a_" + f.queue)
        == std::vector<std::string>{"msg_id bigint", "read_ct integer",
                                    "enqueued_at timestamp with time zone",
                                    "last_read_at timestamp with time zone",
                                    "archived_at timestamp with time zone",
                                    "vt timestamp with time zone",
                                    "message jsonb", "headers jsonb"});
  auto meta = f.exec("SELECT is_partitioned, is_unlogged FROM pgmq.meta "
                     "WHERE queue_name = $1",
                     f.queue);
  REQUIRE(meta.size() == 1);
  CHECK_FALSE(meta[0][0].as<bool>());
  CHECK_FALSE(meta[0][1].as<bool>());
}

TEST_CASE("named and cast calls like the Rust and Python clients work") {
  SchemaFixture f;
  const auto& q = f.queue;
  // Rust PGMQueueExt: create, send selected as msg_id, read, set_vt, pop.
  f.exec("SELECT pgmq.create(queue_name=>$1::text)", q);
  auto sent
      = f.exec("SELECT send as msg_id FROM pgmq.send(queue_name=>$1::text, "
               "msg=>$2::jsonb, delay=>$3::int)",
               q, R"({"n": 1})", 0);
  REQUIRE(sent.size() == 1);
  CHECK(columns(sent) == std::vector<std::string>{"msg_id"});
  auto first = sent[0][0].as<int64_t>();
  // pgmq-py: every send shape, named and cast.
  f.exec("SELECT * FROM pgmq.send(queue_name=>$1::text, msg=>$2::jsonb)", q,
         R"({"n": 2})");
  f.exec("SELECT * FROM pgmq.send(queue_name=>$1::text, msg=>$2::jsonb, "
         "headers=>$3::jsonb)",
         q, R"({"n": 3})", R"({"h": "x"})");
  f.exec("SELECT * FROM pgmq.send(queue_name=>$1::text, msg=>$2::jsonb, "
         "headers=>$3::jsonb, delay=>$4::integer)",
         q, R"({"n": 4})", R"({"h": "y"})", 0);
  f.exec("SELECT * FROM pgmq.send(queue_name=>$1::text, msg=>$2::jsonb, "
         "delay=>$3::timestamptz)",
         q, R"({"n": 5})", "2000-01-01T00:00:00Z");
  f.exec("SELECT * FROM pgmq.send(queue_name=>$1::text, msg=>$2::jsonb, "
         "headers=>$3::jsonb, delay=>$4::timestamptz)",
         q, R"({"n": 6})", R"({})", "2000-01-01T00:00:00Z");
  auto batch = f.exec(
      "SELECT * FROM pgmq.send_batch(queue_name=>$1::text, msgs=>$2::jsonb[], "
      "headers=>$3::jsonb[], delay=>$4::integer)",
      q, R"({"{\"n\": 7}","{\"n\": 8}"})",
      R"({"{\"b\": \"1\"}","{\"b\": \"2\"}"})", 0);
  REQUIRE(batch.size() == 2);
  CHECK(columns(batch) == std::vector<std::string>{"send_batch"});
  CHECK(batch[0][0].as<int64_t>() < batch[1][0].as<int64_t>());
  f.exec("SELECT * FROM pgmq.send_batch(queue_name=>$1::text, "
         "msgs=>$2::jsonb[], delay=>$3::timestamptz)",
         q, R"({"{\"n\": 9}"})", "2000-01-01T00:00:00Z");

  auto read = f.exec("SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, "
                     "message, headers FROM pgmq.read(queue_name=>$1::text, "
                     "vt=>$2::integer, qty=>$3::integer)",
                     q, 30, 3);
  REQUIRE(read.size() == 3);
  CHECK(read[0]["msg_id"].as<int64_t>() == first);
  CHECK(read[0]["read_ct"].as<int>() == 1);
  CHECK_FALSE(read[0]["last_read_at"].is_null());
  auto conditional
      = f.exec("SELECT * FROM pgmq.read(queue_name=>$1::text, vt=>$2::integer, "
               "qty=>$3::integer, conditional=>$4::jsonb)",
               q, 30, 10, R"({"n": 8})");
  REQUIRE(conditional.size() == 1);
  CHECK(conditional[0]["headers"].as<std::string>() == R"({"b": "2"})");

  auto vt = f.exec("SELECT * FROM pgmq.set_vt(queue_name=>$1::text, "
                   "msg_id=>$2::bigint, vt=>$3::integer)",
                   q, first, 0);
  REQUIRE(vt.size() == 1);
  CHECK(columns(vt) == kMessageRecordColumns);
  CHECK(f.exec("SELECT * FROM pgmq.set_vt(queue_name=>$1::text, "
               "msg_id=>$2::bigint, vt=>$3::timestamptz)",
               q, first, "2000-01-01T00:00:00Z")
            .size()
        == 1);
  CHECK(f.exec("SELECT * FROM pgmq.set_vt(queue_name=>$1::text, "
               "msg_ids=>$2::bigint[], vt=>$3::integer)",
               q, "{" + std::to_string(first) + "}", 0)
            .size()
        == 1);
  CHECK(f.exec("SELECT * FROM pgmq.set_vt(queue_name=>$1::text, "
               "msg_ids=>$2::bigint[], vt=>$3::timestamptz)",
               q, "{" + std::to_string(first) + "}", "2000-01-01T00:00:00Z")
            .size()
        == 1);

  auto polled
      = f.exec("SELECT * FROM pgmq.read_with_poll(queue_name=>$1::text, "
               "vt=>$2::integer, qty=>$3::integer, "
               "max_poll_seconds=>$4::integer, "
               "poll_interval_ms=>$5::integer)",
               q, 30, 1, 1, 50);
  REQUIRE(polled.size() == 1);
  CHECK(polled[0]["msg_id"].as<int64_t>() == first);

  auto popped = f.exec(
      "SELECT * FROM pgmq.pop(queue_name=>$1::text, qty=>$2::integer)", q, 2);
  CHECK(popped.size() == 2);
  CHECK(columns(popped) == kMessageRecordColumns);

  auto ids = f.exec("SELECT msg_id FROM pgmq.q_" + q + " ORDER BY msg_id");
  REQUIRE(ids.size() >= 4);
  auto id = [&](int i) {
    return ids[i][0].as<int64_t>();
  };
  auto deleted = f.exec(
      "SELECT pgmq.delete(queue_name=>$1::text, msg_id=>$2::bigint)", q, id(0));
  CHECK(columns(deleted) == std::vector<std::string>{"delete"});
  CHECK(deleted[0][0].as<bool>());
  auto deleted_many = f.exec(
      "SELECT * FROM pgmq.delete(queue_name=>$1::text, msg_ids=>$2::bigint[])",
      q, "{" + std::to_string(id(1)) + ",999999}");
  REQUIRE(deleted_many.size() == 1);
  CHECK(deleted_many[0][0].as<int64_t>() == id(1));
  auto archived
      = f.exec("SELECT pgmq.archive(queue_name=>$1::text, msg_id=>$2::bigint)",
               q, id(2));
  CHECK(columns(archived) == std::vector<std::string>{"archive"});
  CHECK(archived[0][0].as<bool>());
  auto archived_many = f.exec(
      "SELECT * FROM pgmq.archive(queue_name=>$1::text, msg_ids=>$2::bigint[])",
      q, "{" + std::to_string(id(3)) + "}");
  CHECK(archived_many.size() == 1);
  CHECK(f.exec("SELECT count(*) FROM pgmq.a_" + q)[0][0].as<int>() == 2);

  auto purged = f.exec("SELECT pgmq.purge_queue(queue_name=>$1::text)", q);
  CHECK(columns(purged) == std::vector<std::string>{"purge_queue"});
  CHECK(purged[0][0].as<int64_t>() >= 1);
  CHECK(f.exec("SELECT count(*) FROM pgmq.q_" + q)[0][0].as<int>() == 0);

  auto metrics = f.exec("SELECT * FROM pgmq.metrics($1)", q);
  REQUIRE(metrics.size() == 1);
  CHECK(metrics[0]["queue_length"].as<int64_t>() == 0);
  CHECK(metrics[0]["total_messages"].as<int64_t>() == 9);
  auto listed
      = f.exec("SELECT * FROM pgmq.list_queues() WHERE queue_name = $1", q);
  CHECK(listed.size() == 1);
  CHECK(f.exec("SELECT pgmq.drop_queue(queue_name=>$1::text)", q)[0][0]
            .as<bool>());
}

TEST_CASE("untyped parameters as node-postgres sends them resolve") {
  SchemaFixture f;
  const auto& q = f.queue;
  // pgmq-js 1.3.1: typed send, untyped read / set_vt / pop.
  auto sent
      = f.exec("SELECT * FROM pgmq.send($1::text, $2::jsonb, $3::integer)", q,
               R"({"n": 1})", 0);
  CHECK(columns(sent) == std::vector<std::string>{"send"});
  auto id = sent[0][0].as<int64_t>();
  f.exec("SELECT * FROM pgmq.send_batch($1::text, $2::jsonb[], $3::integer)", q,
         R"({"{\"n\": 2}","{\"n\": 3}"})", 0);
  auto read = f.exec("SELECT * FROM pgmq.read($1, $2, $3)", q, 30, 1);
  REQUIRE(read.size() == 1);
  CHECK(columns(read) == kMessageRecordColumns);
  CHECK(read[0]["msg_id"].as<int64_t>() == id);
  CHECK(read[0]["message"].as<std::string>() == R"({"n": 1})");
  // @waiting/pgmq-js: the 4-argument read with a condition.
  auto filtered = f.exec("SELECT * FROM pgmq.read($1, $2, $3, $4)", q, 30, 5,
                         R"({"n": 3})");
  REQUIRE(filtered.size() == 1);
  auto vt = f.exec("SELECT * FROM pgmq.set_vt($1, $2, $3)", q, id, 0);
  REQUIRE(vt.size() == 1);
  CHECK(columns(vt) == kMessageRecordColumns);
  CHECK(f.exec("SELECT * FROM pgmq.set_vt($1, $2, $3)", q, id,
               "2000-01-01T00:00:00+00:00")
            .size()
        == 1);
  auto polled = f.exec("SELECT * FROM pgmq.read_with_poll($1, $2, $3, $4, $5)",
                       q, 30, 1, 1, 50);
  REQUIRE(polled.size() == 1);
  CHECK(polled[0]["msg_id"].as<int64_t>() == id);
  auto popped = f.exec("SELECT * FROM pgmq.pop($1)", q);
  REQUIRE(popped.size() == 1);
  CHECK(f.exec("SELECT pgmq.archive($1, $2::bigint)", q,
               popped[0]["msg_id"].as<int64_t>() + 1000)[0][0]
            .as<bool>()
        == false);
  CHECK(f.exec("SELECT * FROM pgmq.delete($1, $2::bigint[])", q,
               "{" + std::to_string(id + 1000) + "}")
            .empty());
  auto metrics = f.exec("SELECT * FROM pgmq.metrics($1)", q);
  CHECK(metrics[0]["queue_name"].as<std::string>() == q);
  // list_queues() as one composite column, split on commas by pgmq-js.
  bool found = false;
  for (const auto& row : f.exec("SELECT pgmq.list_queues()"))
    found = found || row[0].as<std::string>().rfind("(" + q + ",f,f,", 0) == 0;
  CHECK(found);
}

TEST_CASE("queue names are checked inside the SQL functions") {
  SchemaFixture f;
  for (std::string bad : {"bad$name", "bad;name", "bad--name", "bad'name"}) {
    CAPTURE(bad);
    CHECK(f.error_of("SELECT pgmq.create($1)", bad).find("invalid characters")
          != std::string::npos);
    CHECK_FALSE(
        f.sqlstate_of("SELECT * FROM pgmq.send($1, '{}'::jsonb)", bad).empty());
  }
  auto longest = "l" + std::string(46, 'x');
  auto too_long = longest + "x";
  CHECK(f.error_of("SELECT pgmq.create($1)", too_long)
            .find("maximum length is 47")
        != std::string::npos);
  CHECK(f.error_of("SELECT pgmq.validate_queue_name($1)", too_long)
            .find("maximum length is 47")
        != std::string::npos);
  CHECK(f.error_of("SELECT pgmq.create($1)", longest).empty());
  CHECK(f.exec("SELECT pgmq.drop_queue($1)", longest)[0][0].as<bool>());
  CHECK(f.exec("SELECT pgmq.format_table_name($1, 'q')", "MyQueue")[0][0]
            .as<std::string>()
        == "q_myqueue");
  // Hyphens and mixed case are PGMQ names too (quoted table names).
  auto odd = "Odd-" + f.queue;
  f.exec("SELECT pgmq.create($1)", odd);
  f.exec("SELECT * FROM pgmq.send($1, '{\"a\": 1}'::jsonb)", odd);
  CHECK(f.exec("SELECT * FROM pgmq.read($1, 30, 1)", odd).size() == 1);
  CHECK(f.exec("SELECT queue_name FROM pgmq.meta WHERE queue_name = $1", odd)
            .size()
        == 1);
  CHECK(f.exec("SELECT pgmq.drop_queue($1)", odd)[0][0].as<bool>());
}

TEST_CASE("create is idempotent and drop_queue says whether a queue existed") {
  SchemaFixture f;
  f.exec("SELECT pgmq.create($1)", f.queue);
  f.exec("SELECT pgmq.create_non_partitioned($1)", f.queue);
  CHECK(f.exec("SELECT count(*) FROM pgmq.meta WHERE queue_name = $1",
               f.queue)[0][0]
            .as<int>()
        == 1);
  auto unlogged = unique_name("u");
  f.exec("SELECT pgmq.create_unlogged($1)", unlogged);
  CHECK(f.exec("SELECT relpersistence FROM pg_class WHERE oid = $1::regclass",
               "pgmq.q_" + unlogged)[0][0]
            .as<std::string>()
        == "u");
  CHECK(f.exec("SELECT is_unlogged FROM pgmq.list_queues() "
               "WHERE queue_name = $1",
               unlogged)[0][0]
            .as<bool>());
  CHECK(f.exec("SELECT pgmq.drop_queue($1)", unlogged)[0][0].as<bool>());
  CHECK_FALSE(f.exec("SELECT pgmq.drop_queue($1)", unlogged)[0][0].as<bool>());
  CHECK(f.exec("SELECT to_regclass($1) IS NULL", "pgmq.a_" + unlogged)[0][0]
            .as<bool>());
  f.exec("SELECT pgmq.detach_archive($1)", f.queue);
}

TEST_CASE("send_batch rejects an empty batch and mismatched headers") {
  SchemaFixture f;
  CHECK_FALSE(
      f.sqlstate_of("SELECT * FROM pgmq.send_batch($1, ARRAY[]::jsonb[])",
                    f.queue)
          .empty());
  CHECK(f.error_of("SELECT * FROM pgmq.send_batch($1, "
                   "ARRAY['{}','{}']::jsonb[], ARRAY['{}']::jsonb[])",
                   f.queue)
            .find("headers")
        != std::string::npos);
  CHECK(f.exec("SELECT count(*) FROM pgmq.q_" + f.queue)[0][0].as<int>() == 0);
}

TEST_CASE("read hides messages for vt and metrics count them") {
  SchemaFixture f;
  const auto& q = f.queue;
  f.exec("SELECT * FROM pgmq.send_batch($1, ARRAY['{\"a\":1}','{\"a\":2}',"
         "'{\"a\":3}']::jsonb[])",
         q);
  f.exec("SELECT * FROM pgmq.send($1, '{\"a\":4}'::jsonb, 3600)", q);
  CHECK(f.exec("SELECT * FROM pgmq.read($1, 30, 2)", q).size() == 2);
  CHECK(f.exec("SELECT * FROM pgmq.read($1, 30, 10)", q).size() == 1);
  CHECK(f.exec("SELECT * FROM pgmq.read($1, 30, 10)", q).empty());
  auto m = f.exec("SELECT * FROM pgmq.metrics($1)", q)[0];
  CHECK(m["queue_length"].as<int64_t>() == 4);
  CHECK(m["queue_visible_length"].as<int64_t>() == 0);
  CHECK(m["total_messages"].as<int64_t>() == 4);
  CHECK(m["oldest_msg_age_sec"].as<int>() >= 0);
  CHECK(
      f.exec("SELECT * FROM pgmq.metrics_all() WHERE queue_name = $1", q).size()
      == 1);
}

TEST_CASE("read and pop find their rows by key however empty the statistics "
          "say the queue is") {
  SchemaFixture f;
  const auto table = "pgmq.q_" + f.queue;
  // Statistics of a nearly emptied queue (its pages, one row: the last one
  // keeps VACUUM from truncating), then 2,000 messages of 1 kB: a plan
  // that walks the primary key reads every one of them.
  const auto fill = "INSERT INTO " + table
                    + " (vt, message) SELECT clock_timestamp(), "
                      "jsonb_build_object('n', g, 'pad', repeat('x', 1000)) "
                      "FROM generate_series(1, 2000) g";
  f.exec(fill);
  f.exec("DELETE FROM " + table + " WHERE msg_id < (SELECT max(msg_id) FROM "
         + table + ")");
  f.exec("VACUUM ANALYZE " + table);
  f.exec(fill);
  f.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  // The functions' statements are nested: counted only when tracked too.
  f.exec("SET pg_stat_statements.track = 'all'");
  for (int n = 0; n < 8; ++n) {
    CHECK(f.exec("SELECT * FROM pgmq.read($1, 30, 2)", f.queue).size() == 2);
    CHECK(f.exec("SELECT * FROM pgmq.pop($1, 2)", f.queue).size() == 2);
  }
  f.exec("SET pg_stat_statements.track = 'top'");
  for (const std::string statement :
       {"%UPDATE pgmq.%", "%DELETE FROM pgmq.%"}) {
    auto row = f.exec(
        "SELECT sum(calls)::bigint, sum(shared_blks_hit + "
        "shared_blks_read)::bigint FROM pg_stat_statements WHERE dbid = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query LIKE $1 AND query LIKE $2",
        statement, "%" + f.queue + " m%")[0];
    REQUIRE_FALSE(row[0].is_null());
    auto calls = row[0].as<int64_t>();
    auto buffers = row[1].as<int64_t>();
    CHECK(calls == 8);
    // Key lookups: tens of buffers a call; the walk read ~300.
    CHECK_MESSAGE(buffers / calls < 60, statement << ": " << buffers
                                                  << " buffers in " << calls
                                                  << " calls");
  }
}

TEST_CASE("read_with_poll returns a message sent while it waits") {
  SchemaFixture f;
  auto queue = f.queue;
  std::thread sender{[queue] {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    pqxx::connection c{database_url()};
    pqxx::nontransaction tx{c};
    tx.exec_params("SELECT * FROM pgmq.send($1, '{\"late\": true}'::jsonb)",
                   queue);
  }};
  auto start = std::chrono::steady_clock::now();
  auto got
      = f.exec("SELECT * FROM pgmq.read_with_poll($1, 30, 1, 5, 50)", queue);
  auto waited = std::chrono::steady_clock::now() - start;
  sender.join();
  REQUIRE(got.size() == 1);
  CHECK(got[0]["message"].as<std::string>() == R"({"late": true})");
  CHECK(waited >= std::chrono::milliseconds{250});
  CHECK(waited < std::chrono::seconds{4});
}

TEST_CASE("notify_insert sends a throttled notification on insert") {
  SchemaFixture f;
  const auto& q = f.queue;
  f.exec("SELECT pgmq.enable_notify_insert($1, 0)", q);
  auto throttles = f.exec(
      "SELECT * FROM pgmq.list_notify_insert_throttles() WHERE queue_name = $1",
      q);
  REQUIRE(throttles.size() == 1);
  CHECK(throttles[0]["throttle_interval_ms"].as<int>() == 0);
  int heard = 0;
  struct Counter : pqxx::notification_receiver {
    Counter(pqxx::connection_base& c, const std::string& channel, int& n)
        : pqxx::notification_receiver(c, channel), count(n) {}

    void operator()(const std::string&, int) override {
      ++count;
    }

    int& count;
  };
  pqxx::connection listener{database_url()};
  Counter counter{listener, "pgmq.q_" + q + ".INSERT", heard};
  f.exec("SELECT * FROM pgmq.send($1, '{}'::jsonb)", q);
  f.exec("SELECT * FROM pgmq.send($1, '{}'::jsonb)", q);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (heard < 2 && std::chrono::steady_clock::now() < deadline)
    listener.await_notification(0, 100000);
  CHECK(heard == 2);
  f.exec("SELECT pgmq.update_notify_insert($1, 60000)", q);
  f.exec("SELECT * FROM pgmq.send($1, '{}'::jsonb)", q);
  f.exec("SELECT * FROM pgmq.send($1, '{}'::jsonb)", q);
  deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{500};
  while (std::chrono::steady_clock::now() < deadline)
    listener.await_notification(0, 100000);
  CHECK(heard == 2);
  f.exec("SELECT pgmq.disable_notify_insert($1)", q);
  CHECK(f.exec("SELECT * FROM pgmq.list_notify_insert_throttles() "
               "WHERE queue_name = $1",
               q)
            .empty());
}

TEST_CASE("topic bindings route a message to every matching queue once") {
  SchemaFixture f;
  auto other = unique_name("t");
  f.exec("SELECT pgmq.create($1)", other);
  auto key = unique_name("k");
  f.exec("SELECT pgmq.bind_topic($1, $2)", key + ".*", f.queue);
  f.exec("SELECT pgmq.bind_topic($1, $2)", key + ".#", other);
  f.exec("SELECT pgmq.bind_topic($1, $2)", key + ".#", other);
  f.exec("SELECT pgmq.bind_topic($1, $2)", key + ".created", other);
  CHECK(f.exec("SELECT * FROM pgmq.list_topic_bindings($1)", other).size()
        == 2);
  CHECK(f.exec("SELECT * FROM pgmq.test_routing($1)", key + ".created").size()
        == 3);
  CHECK(f.exec("SELECT pgmq.send_topic($1, $2::jsonb)", key + ".created",
               R"({"n": 1})")[0][0]
            .as<int>()
        == 2);
  CHECK(f.exec("SELECT pgmq.send_topic($1, $2::jsonb, $3::integer)",
               key + ".created.eu", R"({"n": 2})", 0)[0][0]
            .as<int>()
        == 1);
  auto batch = f.exec("SELECT * FROM pgmq.send_batch_topic($1, $2::jsonb[])",
                      key + ".updated", R"({"{\"n\": 3}","{\"n\": 4}"})");
  CHECK(columns(batch) == std::vector<std::string>{"queue_name", "msg_id"});
  CHECK(batch.size() == 4);
  CHECK(f.exec("SELECT count(*) FROM pgmq.q_" + f.queue)[0][0].as<int>() == 3);
  CHECK(f.exec("SELECT count(*) FROM pgmq.q_" + other)[0][0].as<int>() == 4);
  CHECK(
      f.exec("SELECT pgmq.unbind_topic($1, $2)", key + ".created", other)[0][0]
          .as<bool>());
  CHECK_FALSE(
      f.exec("SELECT pgmq.unbind_topic($1, $2)", key + ".created", other)[0][0]
          .as<bool>());
  for (std::string bad : {"a..b", ".a", "a.**", "a.#*", "a b"})
    CHECK_FALSE(
        f.sqlstate_of("SELECT pgmq.validate_topic_pattern($1)", bad).empty());
  CHECK_FALSE(
      f.sqlstate_of("SELECT pgmq.validate_routing_key($1)", "a.*").empty());
  CHECK(f.exec("SELECT pgmq.drop_queue($1)", other)[0][0].as<bool>());
  CHECK(f.exec("SELECT * FROM pgmq.list_topic_bindings($1)", other).empty());
}

TEST_CASE("grouped reads serve each x-pgmq-group in order") {
  SchemaFixture f;
  const auto& q = f.queue;
  f.exec("SELECT pgmq.create_fifo_index($1)", q);
  auto send = [&](int n, const std::string& group) {
    auto headers = group.empty() ? std::string{"{}"}
                                 : R"({"x-pgmq-group": ")" + group + "\"}";
    return f
        .exec("SELECT * FROM pgmq.send($1, $2::jsonb, $3::jsonb)", q,
              R"({"n": )" + std::to_string(n) + "}", headers)[0][0]
        .as<int64_t>();
  };
  auto a1 = send(1, "a");
  auto a2 = send(2, "a");
  auto b1 = send(3, "b");
  send(4, "b");
  auto d1 = send(5, "");
  auto ids = [&](const std::string& fn, int vt, int qty) {
    std::vector<int64_t> out;
    for (const auto& row :
         f.exec("SELECT msg_id FROM pgmq." + fn + "($1, $2, $3) ORDER BY 1", q,
                vt, qty))
      out.push_back(row[0].as<int64_t>());
    return out;
  };
  // Round robin: the first message of every group.
  CHECK(ids("read_grouped_rr", 0, 3) == std::vector<int64_t>{a1, b1, d1});
  // Oldest group first, in order, then the next group.
  CHECK(ids("read_grouped", 30, 3) == std::vector<int64_t>{a1, a2, b1});
  // Groups a and b have messages in flight: only the default group is free.
  CHECK(ids("read_grouped", 30, 3) == std::vector<int64_t>{d1});
  CHECK(ids("read_grouped_head", 30, 3).empty());
  f.exec("SELECT * FROM pgmq.set_vt($1, $2::bigint, 0)", q, b1);
  CHECK(f.exec("SELECT msg_id FROM pgmq.read_grouped_head_with_poll($1, 30, "
               "3, 1, 50)",
               q)
            .size()
        == 1);
  CHECK(f.exec("SELECT * FROM pgmq.read_grouped_with_poll($1, 30, 3, 1, 50)", q)
            .empty());
  CHECK(f.exec("SELECT count(*) FROM pg_indexes WHERE indexname = $1",
               "q_" + q + "_fifo_idx")[0][0]
            .as<int>()
        == 1);
}
