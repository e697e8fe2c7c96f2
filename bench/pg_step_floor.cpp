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
//
//   pg_step_floor --chains N [--steps 4] [--warmup 20]
//
// measures instead the least latency of a task of `--steps` sequential
// steps, one task at a time: an orchestrating thread creates the task
// (its step rows and first step message, durably, with a notification)
// and makes each decision as above when the result's notification comes;
// a worker thread claims each step message when its notification comes
// and sends the result. Each thread has its own connection and waits on
// its socket, as the engine's processes do; nothing else runs. P50, P95
// and P99 of the task from the creation's send to the last decision's
// commit, of the creation alone and of each decision's round trip.

#include "bench/bench_environment.hpp"
#include "bench/command_line.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <optional>
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
  /// Chain mode when above 0: tasks measured one at a time.
  int chains = 0;
  int chain_steps = 4;
  int warmup = 20;
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

int one_number(const std::string& arg, const std::string& text) {
  auto values = numbers(arg, text);
  if (values.size() != 1)
    throw std::invalid_argument(arg + " takes one number, not '" + text + "'");
  return values.front();
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

/// Step ids of chain mode start here, above the throughput mode's.
constexpr int64_t kChainFirstId = 1'000'000'000;

// Chain mode's statements; the channels are the thread's own.
void prepare_chain(pqxx::connection& connection, const std::string& schema,
                   const std::string& work_channel,
                   const std::string& result_channel) {
  const std::string lazy = "(SELECT set_config('synchronous_commit', 'off', "
                           "true)) IS NOT NULL";
  // $1 the task's step ids, $2 the task id; the first step's message.
  connection.prepare(
      "create_chain",
      "WITH steps AS (INSERT INTO " + schema
          + ".steps (id, task_id, state) SELECT id, $2, CASE WHEN id = "
            "($1::bigint[])[1] THEN 'enqueued' ELSE 'pending' END FROM "
            "unnest($1::bigint[]) id), message AS (INSERT INTO "
          + schema + ".q_work (msg_id, message) VALUES (($1::bigint[])[1], "
          + kStepMessage + ")) SELECT pg_notify('" + work_channel
          + "', (($1::bigint[])[1])::text)");
  // $1 the step.
  connection.prepare("claim_one", "UPDATE " + schema
                                      + ".q_work SET vt = clock_timestamp() + "
                                        "interval '30 seconds', read_ct = "
                                        "read_ct + 1 WHERE msg_id = $1 AND "
                                      + lazy + " RETURNING message");
  connection.prepare(
      "result_one",
      "WITH acked AS (DELETE FROM " + schema + ".q_work WHERE msg_id = $1 AND "
          + lazy + "), result AS (INSERT INTO " + schema
          + ".q_results (msg_id, message) VALUES ($1, " + kResultMessage
          + ")) SELECT pg_notify('" + result_channel + "', $1::text)");
  // $1 the step decided, $2 the next step (NULL after the last one).
  connection.prepare(
      "decide_one",
      "WITH step AS (UPDATE " + schema
          + ".steps SET state = 'complete', attempts = attempts + 1, results "
            "= '{\"value\": 16}', updated_at = clock_timestamp() WHERE id = "
            "$1), transition AS (INSERT INTO "
          + schema
          + ".step_transitions (step_id, from_state, to_state, at) VALUES "
            "($1, 'enqueued', 'complete', clock_timestamp())), consumed AS "
            "(DELETE FROM "
          + schema + ".q_results WHERE msg_id = $1), next_step AS (UPDATE "
          + schema + ".steps SET state = 'enqueued' WHERE id = $2), message "
          + "AS (INSERT INTO " + schema
          + ".q_work (msg_id, message) SELECT $2, " + kStepMessage
          + " WHERE $2 IS NOT NULL) SELECT pg_notify('" + work_channel
          + "', $2::text) WHERE $2 IS NOT NULL");
}

/// Collects the ids its channel's notifications carry.
class IdReceiver : public pqxx::notification_receiver {
 public:
  IdReceiver(pqxx::connection& connection, const std::string& channel)
      : pqxx::notification_receiver(connection, channel) {}

  void operator()(const std::string& payload, int) override {
    ids.push_back(std::stoll(payload));
  }

  /// Waits for the next id; none once `stop` is set.
  std::optional<int64_t> next(pqxx::connection& connection,
                              const std::atomic<bool>& stop) {
    while (ids.empty() && !stop)
      connection.await_notification(0, 100'000);
    if (ids.empty())
      return std::nullopt;
    auto id = ids.front();
    ids.pop_front();
    return id;
  }

  std::deque<int64_t> ids;
};

struct ChainResult {
  std::vector<double> tasks_ms;
  std::vector<double> creations_ms;
  /// Each decision's round trip, its durable commit included.
  std::vector<double> decisions_ms;
};

ChainResult run_chains(const Options& options, const std::string& schema) {
  const auto pid = std::to_string(::getpid());
  const std::string work_channel = "floor_work_" + pid;
  const std::string result_channel = "floor_result_" + pid;
  std::atomic<bool> stop{false};
  std::atomic<bool> listening{false};
  std::exception_ptr worker_error;
  std::thread worker{[&] {
    try {
      pqxx::connection connection{options.url};
      IdReceiver work{connection, work_channel};
      prepare_chain(connection, schema, work_channel, result_channel);
      listening = true;
      // No transaction object outlives a statement: libpqxx delivers no
      // notification while one is open.
      while (auto id = work.next(connection, stop)) {
        pqxx::nontransaction{connection}.exec_prepared("claim_one", *id);
        pqxx::nontransaction{connection}.exec_prepared("result_one", *id);
      }
    } catch (...) {
      worker_error = std::current_exception();
      // Read once the worker is joined; `stop` ends the other side's wait.
      stop = true;
      listening = true;
    }
  }};
  ChainResult result;
  try {
    pqxx::connection connection{options.url};
    IdReceiver results{connection, result_channel};
    prepare_chain(connection, schema, work_channel, result_channel);
    while (!listening)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    const int total = options.warmup + options.chains;
    for (int task = 0; task < total && !stop; ++task) {
      std::vector<int64_t> ids;
      std::string array = "{";
      for (int s = 0; s < options.chain_steps; ++s) {
        ids.push_back(kChainFirstId
                      + static_cast<int64_t>(task) * options.chain_steps + s);
        array += (s > 0 ? "," : "") + std::to_string(ids.back());
      }
      array += "}";
      auto start = SteadyClock::now();
      pqxx::nontransaction{connection}.exec_prepared("create_chain", array,
                                                     task);
      auto created = SteadyClock::now();
      std::vector<double> decisions;
      for (std::size_t s = 0; s < ids.size(); ++s) {
        auto done = results.next(connection, stop);
        if (!done)
          break;
        std::optional<int64_t> next;
        if (s + 1 < ids.size())
          next = ids[s + 1];
        auto sent = SteadyClock::now();
        pqxx::nontransaction{connection}.exec_prepared("decide_one", *done,
                                                       next);
        decisions.push_back(
            std::chrono::duration<double, std::milli>(SteadyClock::now() - sent)
                .count());
      }
      auto finished = SteadyClock::now();
      if (task < options.warmup || stop)
        continue;
      using Ms = std::chrono::duration<double, std::milli>;
      result.tasks_ms.push_back(Ms(finished - start).count());
      result.creations_ms.push_back(Ms(created - start).count());
      result.decisions_ms.insert(result.decisions_ms.end(), decisions.begin(),
                                 decisions.end());
      if ((task - options.warmup + 1) % 100 == 0)
        std::fprintf(stderr, "%d of %d tasks\n", task - options.warmup + 1,
                     options.chains);
    }
  } catch (...) {
    stop = true;
    worker.join();
    throw;
  }
  stop = true;
  worker.join();
  if (worker_error)
    std::rethrow_exception(worker_error);
  return result;
}

} // namespace

int main(int argc, char** argv) {
  using tasker::bench::CommandLine;
  using tasker::bench::percentile;
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
      else if (arg == "--chains")
        options.chains = one_number(arg, line.value());
      else if (arg == "--steps")
        options.chain_steps = one_number(arg, line.value());
      else if (arg == "--warmup")
        options.warmup = static_cast<int>(line.number());
      else
        throw std::invalid_argument("unknown argument " + arg);
    }
    if (options.seconds < 1)
      throw std::invalid_argument("--seconds must be at least 1");
    if (options.warmup < 0)
      throw std::invalid_argument("--warmup must not be negative");
    for (int batch : options.batches)
      if (batch > kStepsPerClient)
        throw std::invalid_argument("--batch " + std::to_string(batch)
                                    + " is above "
                                    + std::to_string(kStepsPerClient));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr,
                 "pg_step_floor: %s\nusage: pg_step_floor [--url URL] "
                 "[--seconds N] [--clients 8] [--batch 1,10]\n"
                 "       pg_step_floor [--url URL] --chains N [--steps 4] "
                 "[--warmup 20]\n",
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
    int status = 0;
    try {
      if (options.chains > 0) {
        create_tables(admin, schema, 0);
        std::printf("%d task(s) of %d sequential steps, one at a time, after "
                    "%d warm-up: creation durable; per step a claim and a "
                    "result lazily committed, a decision durable; each "
                    "wake-up a notification\n",
                    options.chains, options.chain_steps, options.warmup);
        std::fflush(stdout);
        auto chains = run_chains(options, schema);
        std::printf("%-10s %8s %8s %8s %14s\n", "", "p50 ms", "p95 ms",
                    "p99 ms", "p50 per step");
        std::printf("%-10s %8.2f %8.2f %8.2f %14.3f\n", "task",
                    percentile(chains.tasks_ms, 0.50),
                    percentile(chains.tasks_ms, 0.95),
                    percentile(chains.tasks_ms, 0.99),
                    percentile(chains.tasks_ms, 0.50) / options.chain_steps);
        for (const auto& [name, values] :
             {std::pair{"creation", &chains.creations_ms},
              std::pair{"decision", &chains.decisions_ms}})
          std::printf("%-10s %8.2f %8.2f %8.2f\n", name,
                      percentile(*values, 0.50), percentile(*values, 0.95),
                      percentile(*values, 0.99));
      } else {
        std::fprintf(stderr, "creating %d steps in schema %s...\n",
                     max_clients * kStepsPerClient, schema.c_str());
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
