// Sustained end-to-end throughput: N linear-4 tasks kept in flight through
// the REST API (each created, then waited for with a long poll, then
// replaced) for a fixed time, against a server and a worker as separate
// processes (PGMQ, RabbitMQ) or one all-in-one process (in memory). Prints
// steps/s and tasks/s per N, the database statements, commits, buffers and
// WAL per step (pg_stat_statements, pg_stat_database, pg_stat_wal), the
// nodes' memory, and the CPU time per step of the nodes and of PostgreSQL's
// backends (from /proc, when PostgreSQL runs on this machine).

#include "bench/cpu_usage.hpp"
#include "bench/node_setup.hpp"
#include "bench/task_driver.hpp"

#include <atomic>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <thread>

namespace {

using namespace tasker::bench;

constexpr int kSteps = 4;
/// Connections creating their first task at once while ramping up.
constexpr std::size_t kMaxCreating = 64;

struct Options {
  NodeSetup nodes;
  std::vector<int64_t> in_flight{1, 10, 100, 1000};
  int64_t seconds = 30;
  int64_t warmup_seconds = 3;
  /// The worker's `max_concurrent_steps`; the node's default when unset.
  std::optional<int64_t> worker_concurrency;
};

void usage() {
  std::printf("usage: e2e_throughput [--providers pgmq,rabbitmq,in-memory] "
              "[--in-flight 1,10,100,1000]\n"
              "                      [--seconds N] [--warmup-seconds N] "
              "[--database-url URL] [--rabbitmq-url URL]\n"
              "                      [--worker-concurrency N] [--apps-dir "
              "DIR] [--templates DIR]\n"
              "--worker-concurrency sets the worker's max_concurrent_steps "
              "(steps of a namespace run at once;\n"
              "the node's default, 10, when not given)\n%s",
              NodeSetup::kUsage);
}

/// Database work so far: statements (pg_stat_statements, when loaded),
/// committed transactions and buffers read (hits and reads) of the
/// database, and the server's WAL (pg_stat_wal: all databases).
struct DatabaseCounters {
  std::optional<double> statements;
  double commits = 0;
  double buffers = 0;
  double wal_bytes = 0;
};

std::optional<DatabaseCounters> read_counters(const std::string& url) {
  if (url.empty())
    return std::nullopt;
  pqxx::connection connection{url};
  pqxx::nontransaction tx{connection};
  DatabaseCounters counters;
  auto database = tx.exec1(
      "SELECT xact_commit, blks_hit + blks_read, (SELECT wal_bytes FROM "
      "pg_stat_wal) FROM pg_stat_database WHERE datname = "
      "current_database()");
  counters.commits = database[0].as<double>();
  counters.buffers = database[1].as<double>();
  counters.wal_bytes = database[2].as<double>();
  try {
    counters.statements
        = tx.exec1("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                   "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
                   "current_database())")[0]
              .as<double>();
  } catch (const std::exception&) {
    // Not loaded (shared_preload_libraries) or not created here.
  }
  return counters;
}

void ensure_statement_counting(const std::string& url) {
  try {
    pqxx::connection connection{url};
    pqxx::nontransaction tx{connection};
    tx.exec0("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  } catch (const std::exception&) {
    // Counted by transactions only.
  }
}

std::string body_for(uint64_t n, const std::string& run) {
  nlohmann::json body{
      {"namespace", "linear_workflow"},
      {"name", "mathematical_sequence"},
      {"context", {{"even_number", 2}}},
      {"idempotency_key", "e2e-throughput-" + run + "-" + std::to_string(n)}};
  return body.dump();
}

/// One N: the window's finished tasks, latencies, database counters at
/// both ends, and the server's largest resident size in it.
struct Measurement {
  uint64_t tasks = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  std::optional<DatabaseCounters> before;
  std::optional<DatabaseCounters> after;
  double server_mib = 0;
  /// CPU seconds the nodes used in the window.
  double nodes_cpu = 0;
  /// CPU seconds PostgreSQL's backends of the database used in the window,
  /// when they run on this machine.
  std::optional<double> database_cpu;
};

/// Keeps `n` tasks in flight: ramps up (a bounded number of creations at
/// once, with progress on stderr), warms up, then measures a window of
/// `o.seconds` of steady load, and drains. `database`: count the
/// database's statements and commits over the window.
Measurement measure(NodeCluster& cluster, const Options& o, int64_t n,
                    bool database, std::function<std::string(uint64_t)> body) {
  using Clock = std::chrono::steady_clock;
  DriveOptions options;
  options.address = cluster.address();
  options.in_flight = static_cast<std::size_t>(n);
  options.max_creating = kMaxCreating;
  options.body = std::move(body);
  TaskDriver driver{options};
  std::atomic<bool> done{false};
  std::exception_ptr failure;
  DriveResult result;
  std::thread runner{[&] {
    try {
      result = driver.run();
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
  }};
  Measurement m;
  try {
    auto wait = [&](Clock::time_point until, auto&& ready) {
      auto report = Clock::now() + std::chrono::seconds{5};
      while (!done && !ready() && Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        if (Clock::now() >= report) {
          auto p = driver.progress();
          std::fprintf(stderr,
                       "  N=%lld: %llu of %lld in flight, %llu created, %llu "
                       "done\n",
                       static_cast<long long>(n),
                       static_cast<unsigned long long>(p.connections),
                       static_cast<long long>(n),
                       static_cast<unsigned long long>(p.created),
                       static_cast<unsigned long long>(p.finished));
          report += std::chrono::seconds{5};
        }
      }
    };
    wait(Clock::time_point::max(), [&] {
      return driver.progress().connections >= static_cast<uint64_t>(n);
    });
    wait(Clock::now() + std::chrono::seconds{o.warmup_seconds}, [] {
      return false;
    });
    m.before = database ? read_counters(o.nodes.database_url) : std::nullopt;
    auto backends_before
        = database ? backend_cpu(o.nodes.database_url) : std::nullopt;
    auto nodes_before = nodes_cpu(cluster);
    auto first = driver.progress();
    auto started = Clock::now();
    auto end = started + std::chrono::seconds{o.seconds};
    while (!done && Clock::now() < end) {
      m.server_mib = std::max(m.server_mib, cluster.server().rss_mib());
      std::this_thread::sleep_for(std::chrono::milliseconds{200});
    }
    auto last = driver.progress();
    m.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    m.nodes_cpu = nodes_cpu(cluster) - nodes_before;
    if (backends_before)
      if (auto backends_after = backend_cpu(o.nodes.database_url))
        m.database_cpu = backend_cpu_used(*backends_before, *backends_after);
    m.after = database ? read_counters(o.nodes.database_url) : std::nullopt;
    m.tasks = last.finished - first.finished;
    m.latencies_ms = driver.latencies_from(first.finished);
    m.latencies_ms.resize(
        std::min<std::size_t>(m.latencies_ms.size(), m.tasks));
  } catch (...) {
    driver.stop();
    runner.join();
    throw;
  }
  driver.stop();
  runner.join();
  if (failure)
    std::rethrow_exception(failure);
  if (result.not_complete != 0)
    throw std::runtime_error(std::to_string(result.not_complete)
                             + " task(s) did not complete");
  return m;
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CommandLine args{argc, argv};
  try {
    while (args.next()) {
      const auto& arg = args.arg();
      if (o.nodes.take(args)) {
        continue;
      } else if (arg == "--in-flight") {
        o.in_flight.clear();
        for (const auto& item : split_list(args.value())) {
          auto n = std::stoll(item);
          if (n < 1)
            throw std::invalid_argument("--in-flight: '" + item
                                        + "' is not a positive number");
          o.in_flight.push_back(n);
        }
      } else if (arg == "--seconds") {
        o.seconds = args.number();
      } else if (arg == "--warmup-seconds") {
        o.warmup_seconds = args.number();
      } else if (arg == "--worker-concurrency") {
        o.worker_concurrency = args.number();
        if (*o.worker_concurrency < 1 || *o.worker_concurrency > 10000)
          throw std::invalid_argument(
              "--worker-concurrency must be from 1 to 10000");
      } else if (arg == "--help" || arg == "-h") {
        usage();
        return 0;
      } else {
        throw std::invalid_argument("unknown argument '" + arg + "'");
      }
    }
    if (o.seconds < 1 || o.warmup_seconds < 0 || o.in_flight.empty())
      throw std::invalid_argument("--seconds must be at least 1, "
                                  "--warmup-seconds at least 0");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_throughput: %s\n", e.what());
    usage();
    return 2;
  }
  o.nodes.settle();

  std::printf("e2e_throughput: %s\n", args.text().c_str());
  std::printf("machine: %s\n", machine_description().c_str());
  std::printf("linear-4 tasks (built-in square handlers), N in flight, each "
              "created with POST /v1/tasks and waited for with\n"
              "GET /v1/tasks/{id}?wait_ms=, then replaced; per N: ramped up "
              "(at most %zu first creations at once),\n"
              "%lld s of warm-up, %lld s measured\n",
              kMaxCreating, static_cast<long long>(o.warmup_seconds),
              static_cast<long long>(o.seconds));
  if (o.worker_concurrency)
    std::printf("worker: max_concurrent_steps %lld\n",
                static_cast<long long>(*o.worker_concurrency));
  else
    std::printf("worker: max_concurrent_steps at the node's default\n");
  int failures = 0;
  uint64_t serial = 0;
  for (const auto& provider : o.nodes.providers) {
    bool database = provider != "in-memory";
    std::printf("\nprovider %s (%s)\n", provider.c_str(),
                servers_description(provider, o.nodes.database_url,
                                    o.nodes.rabbitmq_url)
                    .c_str());
    try {
      if (database)
        ensure_statement_counting(o.nodes.database_url);
      auto cluster_options = o.nodes.cluster(provider, "e2e-throughput", {});
      if (o.worker_concurrency)
        cluster_options.env["TASKER_WORKER_MAX_CONCURRENT_STEPS"]
            = std::to_string(*o.worker_concurrency);
      NodeCluster cluster{cluster_options};
      if (auto* worker = cluster.worker())
        std::printf("idle worker: %.1f MiB resident; idle server: %.1f MiB\n",
                    worker->rss_mib(), cluster.server().rss_mib());
      else
        std::printf("idle node: %.1f MiB resident\n",
                    cluster.server().rss_mib());
      std::printf("%6s %10s %9s %8s %8s %9s %9s %9s %9s %10s %12s %10s\n", "N",
                  "steps/s", "tasks/s", "p50 ms", "p99 ms", "stmt/step",
                  "txn/step", "blks/step", "WAL/step", "server MiB",
                  "node CPU/step", "PG CPU/step");
      for (auto n : o.in_flight) {
        auto m = measure(cluster, o, n, database, [&](uint64_t) {
          return body_for(serial++, o.nodes.run_id);
        });
        std::string statements = "-", commits = "-", buffers = "-", wal = "-";
        double steps = static_cast<double>(m.tasks) * kSteps;
        if (m.before && m.after && steps > 0) {
          char text[32];
          std::snprintf(text, sizeof text, "%.0f",
                        (m.after->buffers - m.before->buffers) / steps);
          buffers = text;
          std::snprintf(text, sizeof text, "%.1f kB",
                        (m.after->wal_bytes - m.before->wal_bytes) / steps
                            / 1000);
          wal = text;
          if (m.before->statements && m.after->statements) {
            std::snprintf(text, sizeof text, "%.1f",
                          (*m.after->statements - *m.before->statements)
                              / steps);
            statements = text;
          }
          std::snprintf(text, sizeof text, "%.2f",
                        (m.after->commits - m.before->commits) / steps);
          commits = text;
        }
        std::string node_cpu = "-", database_cpu = "-";
        if (steps > 0) {
          char text[32];
          std::snprintf(text, sizeof text, "%.3f ms",
                        m.nodes_cpu * 1000 / steps);
          node_cpu = text;
          if (m.database_cpu) {
            std::snprintf(text, sizeof text, "%.3f ms",
                          *m.database_cpu * 1000 / steps);
            database_cpu = text;
          }
        }
        std::printf(
            "%6lld %10.0f %9.0f %8.2f %8.2f %9s %9s %9s %9s %10.1f %12s %10s\n",
            static_cast<long long>(n), steps / m.seconds,
            static_cast<double>(m.tasks) / m.seconds,
            percentile(m.latencies_ms, 0.5), percentile(m.latencies_ms, 0.99),
            statements.c_str(), commits.c_str(), buffers.c_str(), wal.c_str(),
            m.server_mib, node_cpu.c_str(), database_cpu.c_str());
        std::fflush(stdout);
      }
    } catch (const std::exception& e) {
      std::printf("  failed: %s\n", e.what());
      ++failures;
    }
  }
  return o.nodes.finish("e2e-throughput", failures);
}
