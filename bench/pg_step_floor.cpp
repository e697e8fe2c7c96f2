// pg_step_floor: the most steps per second PostgreSQL alone sustains on
// this machine with the least SQL a durable step needs, for comparing the
// engine's figures with what the database could do at best.
//
//   pg_step_floor [--url URL] [--seconds N] [--clients 8] [--batch 1,10]
//
// A step here is what the engine's PGMQ path must write at the least, in
// three statements of one round trip each, as the engine sends them: the
// worker's claim (the step message's visibility moved on) and its result
// with the ack (the result inserted, the step message deleted), both
// committed without waiting for the WAL flush; then the decision, durable:
// the step row updated, a transition inserted, the result deleted and the
// next step message inserted. The tables are the engine's shapes cut to
// their primary keys (plus PGMQ's `vt` index), the statements prepared and
// planned once. No task rows, no JSON recordsets, no notifications and no
// engine process: the figure is a ceiling, not a target. Each client
// thread works on its own steps, `--batch` steps per statement. The URL
// (default TASKER_TEST_DATABASE_URL, then DATABASE_URL) names a database;
// the bench works in a scratch schema `step_floor_<pid>`, dropped at the
// end. Without a URL it exits with 77 (skipped).

#include "bench/bench_environment.hpp"
#include "bench/command_line.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string url;
  int seconds = 10;
  std::vector<int> clients{8};
  std::vector<int> batches{1, 10};
};

/// Steps each client owns; its windows of `batch` steps cycle over them.
constexpr int kStepsPerClient = 20000;

const char* const kStepMessage
    = R"('{"task_uuid": "01a20979-0686-7f4e-acbc-9e35ad3a2ce8", )"
      R"("step_uuid": "01a20979-0686-7f4e-acbc-9e35ad3a2ce9", )"
      R"("handler": "tasker.square"}')";
const char* const kResultMessage
    = R"('{"task_uuid": "01a20979-0686-7f4e-acbc-9e35ad3a2ce8", )"
      R"("result": {"value": 16}}')";

std::vector<int> numbers(const std::string& arg, const std::string& text) {
  std::vector<int> out;
  for (const auto& item : tasker::bench::split_list(text)) {
    try {
      out.push_back(std::stoi(item));
    } catch (const std::exception&) {
      throw std::invalid_argument(arg + ": '" + item
                                  + "' is not a whole number");
    }
    if (out.back() < 1)
      throw std::invalid_argument(arg + ": " + item + " is below 1");
  }
  if (out.empty())
    throw std::invalid_argument(arg + " needs at least one number");
  return out;
}

void create_tables(pqxx::connection& connection, const std::string& schema,
                   int steps) {
  pqxx::work tx{connection};
  tx.exec0("CREATE SCHEMA " + schema);
  for (const char* queue : {"q_work", "q_results"}) {
    tx.exec0("CREATE TABLE " + schema + "." + queue
             + " (msg_id bigint PRIMARY KEY, read_ct integer NOT NULL DEFAULT "
               "0, enqueued_at timestamptz NOT NULL DEFAULT now(), vt "
               "timestamptz NOT NULL DEFAULT now(), message jsonb)");
    tx.exec0("CREATE INDEX ON " + schema + "." + queue + " (vt)");
  }
  tx.exec0("CREATE TABLE " + schema
           + ".steps (id bigint PRIMARY KEY, task_id bigint NOT NULL, state "
             "text NOT NULL, attempts integer NOT NULL DEFAULT 0, results "
             "jsonb, updated_at timestamptz)");
  tx.exec0("CREATE TABLE " + schema
           + ".step_transitions (id bigserial PRIMARY KEY, step_id bigint NOT "
             "NULL, from_state text, to_state text, at timestamptz)");
  tx.exec0("INSERT INTO " + schema
           + ".steps (id, task_id, state) SELECT g, g / 4, 'enqueued' FROM "
             "generate_series(0, "
           + std::to_string(steps - 1) + ") g");
  tx.exec0("INSERT INTO " + schema + ".q_work (msg_id, message) SELECT g, "
           + kStepMessage + " FROM generate_series(0, "
           + std::to_string(steps - 1) + ") g");
  tx.commit();
  pqxx::nontransaction vacuum{connection};
  vacuum.exec0("VACUUM ANALYZE " + schema + ".steps");
  vacuum.exec0("VACUUM ANALYZE " + schema + ".q_work");
}

// $1 the steps (bigint[]).
void prepare(pqxx::connection& connection, const std::string& schema) {
  const std::string lazy = "(SELECT set_config('synchronous_commit', 'off', "
                           "true)) IS NOT NULL";
  connection.prepare("claim", "UPDATE " + schema
                                  + ".q_work SET vt = clock_timestamp() + "
                                    "interval '30 seconds', read_ct = read_ct "
                                    "+ 1 WHERE msg_id = ANY($1::bigint[]) AND "
                                  + lazy + " RETURNING message");
  connection.prepare("result", "WITH acked AS (DELETE FROM " + schema
                                   + ".q_work WHERE msg_id = ANY($1::bigint[]) "
                                     "AND "
                                   + lazy + ") INSERT INTO " + schema
                                   + ".q_results (msg_id, message) SELECT id, "
                                   + kResultMessage
                                   + " FROM unnest($1::bigint[]) id");
  connection.prepare(
      "decide", "WITH step AS (UPDATE " + schema
                    + ".steps SET state = 'complete', attempts = attempts + "
                      "1, results = '{\"value\": 16}', updated_at = "
                      "clock_timestamp() WHERE id = ANY($1::bigint[])), "
                      "transition AS (INSERT INTO "
                    + schema
                    + ".step_transitions (step_id, from_state, to_state, at) "
                      "SELECT id, 'enqueued', 'complete', clock_timestamp() "
                      "FROM unnest($1::bigint[]) id), consumed AS (DELETE FROM "
                    + schema
                    + ".q_results WHERE msg_id = ANY($1::bigint[])) INSERT "
                      "INTO "
                    + schema + ".q_work (msg_id, message) SELECT id, "
                    + kStepMessage + " FROM unnest($1::bigint[]) id");
}

// "{first,...,first+count-1}".
std::string id_array(int first, int count) {
  std::string out = "{";
  for (int i = 0; i < count; ++i)
    out += (i > 0 ? "," : "") + std::to_string(first + i);
  return out + "}";
}

struct RunResult {
  double steps_per_second = 0;
  double statements_per_second = 0;
};

RunResult run(const Options& options, const std::string& schema, int clients,
              int batch) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> steps{0};
  std::atomic<int> ready{0};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        pqxx::connection connection{options.url};
        pqxx::nontransaction setup{connection};
        setup.exec0("SET plan_cache_mode = force_generic_plan");
        prepare(connection, schema);
        ++ready;
        const int first = c * kStepsPerClient;
        const int windows = kStepsPerClient / batch;
        for (int64_t i = 0; !stop; ++i) {
          auto ids
              = id_array(first + static_cast<int>(i % windows) * batch, batch);
          for (const char* statement : {"claim", "result", "decide"})
            setup.exec_prepared(statement, ids);
          steps += batch;
        }
      } catch (...) {
        errors[static_cast<std::size_t>(c)] = std::current_exception();
        ++ready;
      }
    });
  }
  while (ready < clients)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  auto start = SteadyClock::now();
  auto before = steps.load();
  std::this_thread::sleep_for(std::chrono::seconds{options.seconds});
  auto done = steps.load() - before;
  auto elapsed
      = std::chrono::duration<double>(SteadyClock::now() - start).count();
  stop = true;
  for (auto& thread : threads)
    thread.join();
  for (const auto& error : errors)
    if (error)
      std::rethrow_exception(error);
  RunResult result;
  result.steps_per_second = static_cast<double>(done) / elapsed;
  result.statements_per_second = result.steps_per_second * 3 / batch;
  return result;
}

} // namespace

int main(int argc, char** argv) {
  using tasker::bench::CommandLine;
  Options options;
  CommandLine line{argc, argv};
  try {
    while (line.next()) {
      const auto& arg = line.arg();
      if (arg == "--url")
        options.url = line.value();
      else if (arg == "--seconds")
        options.seconds = static_cast<int>(line.number());
      else if (arg == "--clients")
        options.clients = numbers(arg, line.value());
      else if (arg == "--batch")
        options.batches = numbers(arg, line.value());
      else
        throw std::invalid_argument("unknown argument " + arg);
    }
    if (options.seconds < 1)
      throw std::invalid_argument("--seconds must be at least 1");
    for (int batch : options.batches)
      if (batch > kStepsPerClient)
        throw std::invalid_argument("--batch " + std::to_string(batch)
                                    + " is above "
                                    + std::to_string(kStepsPerClient));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr,
                 "pg_step_floor: %s\nusage: pg_step_floor [--url URL] "
                 "[--seconds N] [--clients 8] [--batch 1,10]\n",
                 e.what());
    return 2;
  }
  if (options.url.empty())
    options.url = tasker::bench::env_or_empty(
        {"TASKER_TEST_DATABASE_URL", "DATABASE_URL"});
  if (options.url.empty()) {
    std::fprintf(stderr, "pg_step_floor: no database URL (--url, "
                         "TASKER_TEST_DATABASE_URL or DATABASE_URL); "
                         "skipped\n");
    return 77;
  }

  const std::string schema = "step_floor_" + std::to_string(::getpid());
  int max_clients = 0;
  for (int clients : options.clients)
    max_clients = std::max(max_clients, clients);
  try {
    pqxx::connection admin{options.url};
    std::printf("pg_step_floor: %s\nmachine: %s\n%s\n", line.text().c_str(),
                tasker::bench::machine_description().c_str(),
                tasker::bench::postgresql_description(options.url).c_str());
    std::fprintf(stderr, "creating %d steps in schema %s...\n",
                 max_clients * kStepsPerClient, schema.c_str());
    int status = 0;
    try {
      create_tables(admin, schema, max_clients * kStepsPerClient);
      std::printf("three statements per step (claim and result+ack lazily "
                  "committed, decision durable), %d s per row\n",
                  options.seconds);
      std::printf("%8s %6s %10s %13s\n", "clients", "batch", "steps/s",
                  "statements/s");
      std::fflush(stdout);
      for (int clients : options.clients)
        for (int batch : options.batches) {
          auto result = run(options, schema, clients, batch);
          std::printf("%8d %6d %10.0f %13.0f\n", clients, batch,
                      result.steps_per_second, result.statements_per_second);
          std::fflush(stdout);
        }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pg_step_floor: %s\n", e.what());
      status = 1;
    }
    pqxx::nontransaction drop{admin};
    drop.exec0("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    return status;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_step_floor: %s\n", e.what());
    return 1;
  }
}
