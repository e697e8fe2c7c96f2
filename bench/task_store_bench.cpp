// task_store_bench: how fast the PostgreSQL task store finds due work, lists,
// loads and changes tasks when the database holds many finished tasks, and
// the plans of the due-work queries.
//
//   task_store_bench [--url URL] [--finished N] [--live N] [--runs N] [--keep]
//
// The URL (default TASKER_TEST_DATABASE_URL) names a server: the bench works
// in a scratch database `tasker_bench_<random>` on it, dropped at the end
// unless --keep. It fills N finished tasks (default 1,000,000; complete,
// each with 4 complete steps in a diamond and its 4 edges, over 4
// namespaces, created over the last 30 days; no history rows) with
// server-side INSERT ... SELECT, runs VACUUM (ANALYZE), then creates the
// live tasks (default 1,000) through the store: a third with enqueued
// steps past their timeout, a third waiting for a due retry, a third stuck
// waiting for dependencies. Each query runs --runs times (default 20) on
// the store's one pooled connection; the figures are min, median and p95 in
// milliseconds, followed by the due-work plans. The due-work queries are
// then timed and explained again after an ANALYZE that sees the live
// tasks. Without a URL it exits with 77 (skipped).

#include "bench/command_line.hpp"
#include "orchestration/pg_task_store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

namespace {

using namespace tasker::orchestration;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string url;
  int64_t finished = 1000000;
  int live = 1000;
  int runs = 20;
  bool keep = false;
};

/// Limit of the due-work queries: the sweeper's default batch.
constexpr int32_t kBatch = 500;
/// The sweeper's default timeout grace.
constexpr std::chrono::seconds kGrace{30};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error{what};
}

template <class T>
T must(tasker::core::Result<T> result, const std::string& what) {
  if (!result)
    fail(what + ": " + result.error().to_string());
  return std::move(*result);
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// `url` (a postgres:// URL or a key=value string) naming database `name`.
std::string with_database(const std::string& url, const std::string& name) {
  if (!url.starts_with("postgres://") && !url.starts_with("postgresql://"))
    return url + " dbname=" + name;
  auto query = url.find('?');
  auto authority = url.find("//") + 2;
  auto slash = url.find('/', authority);
  auto path = slash == std::string::npos || slash > query ? query : slash;
  auto base = url.substr(0, path == std::string::npos ? url.size() : path);
  return base + "/" + name
         + (query == std::string::npos ? "" : url.substr(query));
}

/// A database of the bench's own on the server of `url`, dropped (with any
/// connections still on it) on destruction unless kept.
class ScratchDatabase {
 public:
  ScratchDatabase(std::string admin_url, bool keep)
      : admin_url_(std::move(admin_url)), keep_(keep) {
    std::random_device random;
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", random());
    name_ = std::string{"tasker_bench_"} + suffix;
    pqxx::connection admin{admin_url_};
    pqxx::nontransaction tx{admin};
    tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
  }

  ScratchDatabase(const ScratchDatabase&) = delete;

  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  ~ScratchDatabase() {
    if (keep_) {
      std::printf("kept database %s\n", name_.c_str());
      return;
    }
    try {
      pqxx::connection admin{admin_url_};
      pqxx::nontransaction tx{admin};
      tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_)
               + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "task_store_bench: could not drop database %s: %s\n",
                   name_.c_str(), e.what());
    }
  }

  const std::string& name() const {
    return name_;
  }

 private:
  std::string admin_url_;
  bool keep_;
  std::string name_;
};

// -- bulk fill ----------------------------------------------------------------

// Finished tasks $1 <= i < $2 of $3, created from $4 (us since the epoch)
// over $5 us, with their steps and edges, in one statement. Ids are UUID v7
// like the store's: the creation millisecond, then 7, a kind (0 the task,
// 1-4 its steps), the variant and i, so they sort by creation time.
constexpr const char* kFillSql = R"sql(
WITH src AS MATERIALIZED (
  SELECT i, c.us AS created_us, lpad(to_hex(c.us / 1000), 12, '0') AS ms,
         lpad(to_hex(i), 15, '0') AS seq
  FROM generate_series($1::bigint, $2::bigint - 1) AS i,
       LATERAL (SELECT $4::bigint + ($5::float8 * i / $3)::bigint AS us) c),
tasks AS (
  INSERT INTO tasker.tasks (id, namespace, name, version, context,
    identity_hash, initiator, source_system, reason, state, revision,
    created_at, state_since, completed_at)
  SELECT (ms || '70008' || seq)::uuid, 'ns_' || i % 4, 'order_flow', '1.0.0',
    jsonb_build_object('order_id', i, 'customer', 'c' || i % 1000),
    encode(sha256(convert_to('bench:' || i, 'UTF8')), 'hex'), 'bench',
    'bench', 'bulk fill', 'complete', 9, tasker.us_to_time(created_us),
    tasker.us_to_time(created_us + 4000000),
    tasker.us_to_time(created_us + 4000000)
  FROM src),
steps AS (
  INSERT INTO tasker.workflow_steps (id, task_id, name, position, handler,
    state, attempts, timeout_seconds, results, enqueued_at, completed_at,
    updated_at)
  SELECT (ms || '700' || k + 1 || '8' || seq)::uuid,
    (ms || '70008' || seq)::uuid,
    (ARRAY['validate', 'charge', 'reserve', 'notify'])[k + 1], k,
    'bench.step_' || k, 'complete', 1, 60, jsonb_build_object('ok', true),
    tasker.us_to_time(created_us + k * 1000000),
    tasker.us_to_time(created_us + (k + 1) * 1000000),
    tasker.us_to_time(created_us + (k + 1) * 1000000)
  FROM src, generate_series(0, 3) AS k),
edges AS (
  INSERT INTO tasker.workflow_step_edges (task_id, from_step, to_step)
  SELECT (ms || '70008' || seq)::uuid, (ms || '700' || e.f || '8' || seq)::uuid,
    (ms || '700' || e.t || '8' || seq)::uuid
  FROM src, (VALUES (1, 2), (1, 3), (2, 4), (3, 4)) AS e(f, t))
SELECT count(*) FROM src
)sql";

// Fills `n` finished tasks in tenths, printing progress; returns seconds.
double fill_finished(const std::string& url, int64_t n) {
  pqxx::connection connection{url};
  auto now = std::chrono::system_clock::now();
  auto span = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::days{30});
  auto start_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      (now - span).time_since_epoch())
                      .count();
  auto start = SteadyClock::now();
  for (int64_t tenth = 0; tenth < 10; ++tenth) {
    int64_t lo = n * tenth / 10;
    int64_t hi = n * (tenth + 1) / 10;
    if (lo == hi)
      continue;
    pqxx::work tx{connection, "fill"};
    tx.exec_params(kFillSql, lo, hi, n, start_us,
                   static_cast<int64_t>(span.count()));
    tx.commit();
    std::printf("  filled %lld / %lld finished tasks (%lld%%) in %.1f s\n",
                static_cast<long long>(hi), static_cast<long long>(n),
                static_cast<long long>((tenth + 1) * 10), seconds_since(start));
    std::fflush(stdout);
  }
  return seconds_since(start);
}

// Runs `maintenance` (VACUUM, ANALYZE) on the scratch database; returns
// seconds.
double maintain(const std::string& url, const std::string& maintenance) {
  pqxx::connection connection{url};
  pqxx::nontransaction tx{connection};
  auto start = SteadyClock::now();
  tx.exec0(maintenance);
  return seconds_since(start);
}

// -- live tasks ---------------------------------------------------------------

/// The live tasks, by the due work they make.
struct LiveTasks {
  /// steps_in_process, first step enqueued 10 min ago, 60 s timeout.
  std::vector<TaskSnapshot> overdue;
  /// waiting_for_retry, first step's retry due a minute ago.
  std::vector<std::string> retrying;
  /// waiting_for_dependencies for 2 h (the limit is 1 h).
  std::vector<std::string> stale;
};

NewTask live_request(int i) {
  NewTask request;
  request.namespace_name = "ns_" + std::to_string(i % 4);
  request.name = "order_flow";
  request.version = "1.0.0";
  request.context = {{"order_id", i}, {"live", true}};
  request.identity_hash = "live:" + std::to_string(i);
  request.initiator = "bench";
  request.source_system = "bench";
  request.reason = "live";
  auto step = [](std::string name, std::vector<std::string> dependencies) {
    NewStep s;
    s.handler = "bench." + name;
    s.name = std::move(name);
    s.timeout_seconds = 60;
    s.dependencies = std::move(dependencies);
    return s;
  };
  request.steps
      = {step("validate", {}), step("charge", {"validate"}),
         step("reserve", {"validate"}), step("notify", {"charge", "reserve"})};
  return request;
}

// Moves a new task to the state of its kind (`i % 3`, see LiveTasks).
ChangeSet live_change(const TaskSnapshot& task, int i) {
  auto now = Clock::now();
  ChangeSet change;
  change.task_id = task.task.id;
  change.expected_revision = task.task.revision;
  change.node = "bench";
  StepChange first;
  first.step_id = task.steps.front().id;
  first.expected_state = StepState::pending;
  first.events = {StepEvent::enqueue};
  first.attempts = 1;
  switch (i % 3) {
    case 0:
      change.at = now - 10min;
      change.task = TaskChange{TaskState::pending,
                               {TaskEvent::start, TaskEvent::ready_steps_found,
                                TaskEvent::steps_enqueued},
                               {}};
      first.enqueued_at = change.at;
      change.steps = {first};
      break;
    case 1:
      change.at = now - 5min;
      change.task
          = TaskChange{TaskState::pending,
                       {TaskEvent::start, TaskEvent::ready_steps_found,
                        TaskEvent::steps_enqueued, TaskEvent::step_failed},
                       {}};
      first.events.push_back(StepEvent::enqueue_as_error_for_orchestration);
      first.events.push_back(StepEvent::wait_for_retry);
      first.enqueued_at = change.at;
      first.last_error = {{"message", "bench failure"},
                          {"kind", "retryable"},
                          {"retryable", true}};
      first.next_retry_at = std::optional<TimePoint>{now - 1min};
      change.steps = {first};
      break;
    default:
      change.at = now - 2h;
      change.task
          = TaskChange{TaskState::pending,
                       {TaskEvent::start, TaskEvent::no_dependencies_ready},
                       {}};
      break;
  }
  return change;
}

LiveTasks create_live(PgTaskStore& store, int n) {
  LiveTasks live;
  for (int i = 0; i < n; ++i) {
    auto created = must(store.create_task(live_request(i)),
                        "create_task of live task " + std::to_string(i));
    auto changed = must(store.apply(live_change(created.snapshot, i)),
                        "apply to live task " + created.snapshot.task.id);
    if (i % 3 == 0)
      live.overdue.push_back(std::move(changed));
    else
      (i % 3 == 1 ? live.retrying : live.stale).push_back(changed.task.id);
  }
  return live;
}

// -- timing -------------------------------------------------------------------

double percentile(std::vector<double> xs, double p) {
  std::sort(xs.begin(), xs.end());
  auto index
      = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[index];
}

// Runs `work` (which returns how many rows it got) `runs` times and prints
// min / median / p95 in ms.
template <class Work>
void time_query(const char* name, int runs, Work work) {
  std::vector<double> ms;
  std::size_t rows = 0;
  for (int run = 0; run < runs; ++run) {
    auto start = SteadyClock::now();
    rows = work(run);
    ms.push_back(
        std::chrono::duration<double, std::milli>(SteadyClock::now() - start)
            .count());
  }
  std::printf("%-14s %8.3f %8.3f %8.3f   %zu rows\n", name, percentile(ms, 0),
              percentile(ms, 0.5), percentile(ms, 0.95), rows);
}

void print_heading(int runs) {
  std::printf("\n%-14s %8s %8s %8s   (ms over %d runs)\n", "query", "min",
              "median", "p95", runs);
}

void time_due_work(PgTaskStore& store, int runs) {
  StalenessLimits limits;
  time_query("due_retries", runs, [&](int) {
    return must(store.due_retries(Clock::now(), kBatch), "due_retries").size();
  });
  time_query("overdue_steps", runs, [&](int) {
    return must(store.overdue_steps(Clock::now(), kGrace, kBatch),
                "overdue_steps")
        .size();
  });
  time_query("stale_tasks", runs, [&](int) {
    return must(store.stale_tasks(Clock::now(), limits, kBatch), "stale_tasks")
        .size();
  });
}

void time_task_access(PgTaskStore& store, const LiveTasks& live, int runs) {
  time_query("list_tasks", runs, [&](int) {
    TaskQuery query;
    query.namespace_name = "ns_1";
    return must(store.list_tasks(query), "list_tasks").tasks.size();
  });
  time_query("load", runs, [&](int run) {
    const auto& id = live.retrying[run % live.retrying.size()];
    return must(store.load(id), "load of task " + id).steps.size();
  });
  // A worker's start of an overdue step: enqueued -> in_progress, on a
  // different task each run (it stays overdue).
  time_query("apply", runs, [&](int run) {
    const auto& task = live.overdue[run];
    const auto& id = task.task.id;
    ChangeSet change;
    change.task_id = id;
    change.node = "bench";
    change.at = Clock::now();
    StepChange start;
    start.step_id = task.steps.front().id;
    start.expected_state = StepState::enqueued;
    start.expected_attempts = 1;
    start.events = {StepEvent::start};
    change.steps = {start};
    return must(store.apply(change), "apply to task " + id).steps.size();
  });
}

void print_plans(PgTaskStore& store) {
  auto plans = must(
      store.explain_due_work(Clock::now(), kGrace, StalenessLimits{}, kBatch),
      "explain_due_work");
  std::printf("\nplans (EXPLAIN (ANALYZE, BUFFERS) via explain_due_work):\n"
              "%s",
              plans.c_str());
}

int run(const Options& o, const std::string& command) {
  pqxx::connection admin{o.url};
  auto version = pqxx::nontransaction{admin}
                     .exec1("SHOW server_version")[0]
                     .as<std::string>();
  admin.disconnect();
  ScratchDatabase scratch{o.url, o.keep};
  auto url = with_database(o.url, scratch.name());
  std::printf("task_store_bench: %s\n", command.c_str());
  std::printf("PostgreSQL %s, %u cores, database %s; finished %lld, live %d, "
              "due-work limit %d\n",
              version.c_str(), std::thread::hardware_concurrency(),
              scratch.name().c_str(), static_cast<long long>(o.finished),
              o.live, kBatch);
  std::fflush(stdout);
  {
    PgTaskStoreOptions options;
    options.url = url;
    // One connection: every statement is prepared once, on it.
    options.pool_size = 1;
    auto store = must(PgTaskStore::connect(options), "connect");
    auto filled = fill_finished(url, o.finished);
    auto vacuumed = maintain(url, "VACUUM (ANALYZE)");
    std::printf("fill: %lld finished tasks in %.1f s; VACUUM (ANALYZE) %.1f "
                "s\n",
                static_cast<long long>(o.finished), filled, vacuumed);
    auto start = SteadyClock::now();
    auto live = create_live(store, o.live);
    std::printf("live: %d tasks (create_task + apply) in %.1f s\n", o.live,
                seconds_since(start));
    print_heading(o.runs);
    time_due_work(store, o.runs);
    time_task_access(store, live, o.runs);
    print_plans(store);
    // The statistics above predate the live tasks (the partial indexes
    // looked empty); autoanalyze waits for 10% of the rows to change.
    std::printf("\nANALYZE with the live tasks in: %.1f s\n",
                maintain(url, "ANALYZE"));
    print_heading(o.runs);
    time_due_work(store, o.runs);
    print_plans(store);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  if (auto url = std::getenv("TASKER_TEST_DATABASE_URL"))
    o.url = url;
  tasker::bench::CommandLine args{argc, argv};
  try {
    while (args.next()) {
      const auto& arg = args.arg();
      if (arg == "--url")
        o.url = args.value();
      else if (arg == "--finished")
        o.finished = args.number();
      else if (arg == "--live")
        o.live = static_cast<int>(args.number());
      else if (arg == "--runs")
        o.runs = static_cast<int>(args.number());
      else if (arg == "--keep")
        o.keep = true;
      else
        fail("unknown argument " + arg
             + " (see the comment at the top of bench/task_store_bench.cpp)");
    }
    if (o.finished < 0 || o.runs < 1 || o.live < 3 * o.runs)
      fail("needs --finished >= 0, --runs >= 1 and --live >= 3 * --runs "
           "(apply changes a different overdue task each run)");
    if (o.url.empty()) {
      std::printf("task_store_bench: skipped (no --url and no "
                  "TASKER_TEST_DATABASE_URL)\n");
      return 77;
    }
    return run(o, args.text());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "task_store_bench: %s\n", e.what());
    return 1;
  }
}
