#include "orchestration/pg_task_store.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "messaging/pgmq/pg_connection_pool.hpp"
#include "messaging/pgmq/pgmq_listener.hpp"
#include "messaging/pgmq/pgmq_schema.hpp"
#include "orchestration/change_applier.hpp"
#include "orchestration/pg_task_schema.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace tasker::orchestration {

namespace {

using core::Error;
using core::ErrorCode;
using core::Result;
using messaging::ConnectionLease;
using messaging::ConnectionPool;
using messaging::PooledConnection;
using nlohmann::json;

constexpr std::string_view kComponent = "task_store";

using SteadyClock = std::chrono::steady_clock;

/// Committed outbox entries kept for the relay; more wait in the table.
constexpr std::size_t kCommittedOutboxKept = 10000;
/// How often at most the relay reads the table while this store's own
/// committed entries keep it busy (for entries of other nodes or of a
/// failed round).
constexpr std::chrono::seconds kOutboxReadInterval{1};

// -- values -------------------------------------------------------------------

// Times are stored with microsecond precision; truncating (not rounding)
// keeps "deadline <= now" comparisons the same as in memory.
int64_t to_us(TimePoint at) {
  return std::chrono::floor<std::chrono::microseconds>(at.time_since_epoch())
      .count();
}

TimePoint from_us(int64_t us) {
  return TimePoint{std::chrono::duration_cast<Clock::duration>(
      std::chrono::microseconds{us})};
}

TimePoint truncated(TimePoint at) {
  return from_us(to_us(at));
}

void truncate(std::optional<TimePoint>& at) {
  if (at)
    at = truncated(*at);
}

// Makes the snapshot equal to what loading it back returns.
void truncate_times(TaskSnapshot& snapshot) {
  auto& task = snapshot.task;
  task.created_at = truncated(task.created_at);
  task.state_since = truncated(task.state_since);
  truncate(task.completed_at);
  for (auto& step : snapshot.steps) {
    truncate(step.next_retry_at);
    truncate(step.enqueued_at);
    truncate(step.completed_at);
    step.updated_at = truncated(step.updated_at);
  }
}

json us_or_null(const std::optional<TimePoint>& at) {
  return at ? json(to_us(*at)) : json();
}

// Ids reach SQL as uuid: anything else cannot name a stored row.
bool is_uuid(std::string_view text) {
  if (text.size() != 36)
    return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-'
             : !std::isxdigit(static_cast<unsigned char>(text[i])))
      return false;
  }
  return true;
}

// A PostgreSQL array literal of values that need no quoting (uuids, numbers).
template <class Range>
std::string plain_array(const Range& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1)
      out += ',';
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(item)>>)
      out += std::to_string(item);
    else
      out += item;
  }
  return out + "}";
}

std::string task_not_found(const std::string& task_id) {
  return "task " + task_id + " does not exist";
}

std::optional<DeadLetterReason> parse_reason(std::string_view text) {
  for (auto reason :
       {DeadLetterReason::staleness_timeout,
        DeadLetterReason::max_retries_exceeded, DeadLetterReason::manual})
    if (to_string(reason) == text)
      return reason;
  return std::nullopt;
}

/// Reads the fields of a row left to right.
class Fields {
 public:
  explicit Fields(const pqxx::row& row) : row_(row) {}

  pqxx::field next() {
    return row_[index_++];
  }

  std::string text() {
    return next().as<std::string>();
  }

  std::string text_or_empty() {
    auto f = next();
    return f.is_null() ? std::string{} : f.as<std::string>();
  }

  std::optional<std::string> optional_text() {
    auto f = next();
    return f.is_null() ? std::nullopt
                       : std::optional<std::string>{f.as<std::string>()};
  }

  template <class T>
  T value() {
    return next().as<T>();
  }

  template <class T>
  std::optional<T> optional_value() {
    auto f = next();
    return f.is_null() ? std::nullopt : std::optional<T>{f.as<T>()};
  }

  json document() {
    auto f = next();
    return f.is_null() ? json() : json::parse(f.c_str());
  }

  TimePoint time() {
    return from_us(next().as<int64_t>());
  }

  std::optional<TimePoint> optional_time() {
    auto f = next();
    return f.is_null() ? std::nullopt
                       : std::optional<TimePoint>{from_us(f.as<int64_t>())};
  }

  /// True when the next field is NULL (it is not consumed).
  bool next_is_null() const {
    return row_[index_].is_null();
  }

 private:
  const pqxx::row& row_;
  pqxx::row::size_type index_ = 0;
};

// -- SQL ----------------------------------------------------------------------

// The task columns read by `read_task`: all but the context, which each
// statement selects as it needs.
constexpr std::string_view kTaskColumns
    = "t.id::text, t.namespace, t.name, t.version, t.identity_hash, "
      "t.idempotency_key, t.priority, t.initiator, t.source_system, t.reason, "
      "t.state, t.revision, tasker.time_to_us(t.created_at), "
      "tasker.time_to_us(t.state_since), tasker.time_to_us(t.completed_at)";

// The step columns read by `read_step`.
constexpr std::string_view kStepColumns
    = "s.id::text, s.name, s.handler, s.handler_initialization::text, "
      "s.state, s.attempts, s.retryable, s.max_attempts, s.backoff, "
      "s.backoff_base_ms, s.max_backoff_ms, s.jitter_percent, "
      "s.timeout_seconds, s.parents, s.results::text, s.last_error::text, "
      "tasker.time_to_us(s.next_retry_at), tasker.time_to_us(s.enqueued_at), "
      "tasker.time_to_us(s.completed_at), tasker.time_to_us(s.updated_at)";

// Tasks with their steps, one row per step in topological order, the
// context only on a task's first row; `lock` locks the task row, then its
// step rows (which also makes a waiting statement read the step rows as
// the transaction it waited for left them).
std::string snapshot_sql(std::string_view where, bool lock) {
  std::string lock_task = lock ? " FOR UPDATE OF t" : "";
  std::string lock_steps = lock ? " FOR UPDATE OF s" : "";
  return "SELECT " + std::string{kTaskColumns}
         + ", CASE WHEN row_number() OVER (PARTITION BY t.id ORDER BY "
           "s.position) = 1 THEN t.context::text END, t.pending_dead_letter, "
         + std::string{kStepColumns}
         + " FROM (SELECT t.*, EXISTS (SELECT 1 FROM tasker.tasks_dlq d "
           "WHERE d.task_id = t.id AND d.resolution = 'pending') AS "
           "pending_dead_letter FROM tasker.tasks t WHERE "
         + std::string{where} + " ORDER BY t.id" + lock_task
         + ") t LEFT JOIN LATERAL (SELECT s.*, array_to_string(ARRAY("
           "SELECT e.from_step FROM tasker.workflow_step_edges e JOIN "
           "tasker.workflow_steps p ON p.id = e.from_step WHERE e.to_step = "
           "s.id ORDER BY p.position), ',') AS parents FROM "
           "tasker.workflow_steps s WHERE s.task_id = t.id ORDER BY "
           "s.position"
         + lock_steps + ") s ON true ORDER BY t.id, s.position";
}

// The history entries in `entries` (a JSON array of transitions, each
// with its task's id) of the tasks written (`task_rows`), one row per task
// with its entries in order, the row's id drawn from the shared sequence:
// one index entry and one key check per task changed, where a row per
// transition took two index entries and a check each.
std::string history_cte(std::string_view entries) {
  return "history AS (INSERT INTO tasker.task_history (id, task_id, entries) "
         "SELECT nextval('tasker.transition_id_seq'), g.task_id, g.entries "
         "FROM (SELECT (x.e->>'task_id')::uuid AS task_id, jsonb_agg(x.e - "
         "'task_id' ORDER BY x.n) AS entries FROM jsonb_array_elements("
         + std::string{entries}
         + "::jsonb) WITH ORDINALITY AS x(e, n) GROUP BY 1) g WHERE g.task_id "
           "IN (SELECT id FROM task_rows) RETURNING 1)";
}

// `text` as an SQL string literal (standard_conforming_strings, the
// default since PostgreSQL 9.1).
std::string sql_literal(std::string_view text) {
  std::string out = "'";
  for (char ch : text)
    out += ch == '\'' ? std::string{"''"} : std::string{ch};
  return out + "'";
}

// Messages sent through PGMQ, each with the notification the PGMQ
// provider's own send raises (`message_ready` on the queue's namespace
// channel), so listeners wake up when the transaction commits.
//
// Messages to `direct` (a queue name; none when empty) are inserted into
// its table by this statement itself; the others go through `pgmq.send`,
// whose dynamic INSERT is parsed and planned at each call. The store
// prepares one statement per queue it sends to the most.
//
// `deferred`: the notifications are not raised but selected (`messages`
// has their channel and payload), for `kNotifySql` to raise after the
// commit (see `defers_notifications`).
std::string send_messages(const std::string& direct,
                          std::string_view messages = "$5",
                          bool deferred = false) {
  const std::string ready = "o.now + o.delay_ms * interval '1 millisecond'";
  auto notification = [](const std::string& queue,
                         const std::string& namespace_name,
                         const std::string& msg_id,
                         const std::string& enqueued_at,
                         const std::string& ready_at,
                         const std::string& delay_seconds) {
    return "jsonb_build_object('event_type', 'message_ready', 'queue_name', "
           + queue + ", 'namespace', " + namespace_name + ", 'msg_id', "
           + msg_id + ", 'read_ct', 0, 'enqueued_at', " + enqueued_at
           + ", 'ready_at', " + ready_at + ", 'delay_seconds', " + delay_seconds
           + ", 'payload_omitted', true)::text";
  };
  // The messages of the tasks written, filtered once: a filter on the
  // queue as well made the planner expect one row and probe `task_rows`
  // once per message (a nested loop, 0.1 s for a batch of 256 tasks).
  std::string sql
      = "outbound AS MATERIALIZED (SELECT r.task_id, r.queue, r.namespace, "
        "r.channel, r.payload, r.headers, r.delay_ms, c.now FROM (SELECT "
        "clock_timestamp() AS now) c, jsonb_to_recordset("
        + std::string{messages}
        + "::jsonb) AS r(task_id uuid, queue text, namespace text, channel "
          "text, payload text, headers jsonb, delay_ms bigint) WHERE "
          "r.task_id IN (SELECT id FROM task_rows)), sent AS MATERIALIZED "
          "(SELECT o.queue, o.namespace, o.channel, o.delay_ms, o.now, "
        + ready + " AS ready_at, pgmq.send(o.queue, o.payload::jsonb, "
        + "o.headers, " + ready + ") AS msg_id FROM outbound o"
        + (direct.empty() ? "" : " WHERE o.queue <> " + sql_literal(direct))
        + "), ";
  std::string notifications
      = "SELECT s.channel, "
        + notification("s.queue", "s.namespace", "s.msg_id", "s.now",
                       "s.ready_at", "s.delay_ms / 1000")
        + " AS payload FROM sent s";
  if (!direct.empty()) {
    sql += "direct AS (INSERT INTO pgmq.q_" + direct
           + " (enqueued_at, vt, message, headers) SELECT o.now, " + ready
           + ", o.payload::jsonb, o.headers FROM outbound o WHERE o.queue = "
           + sql_literal(direct) + " RETURNING msg_id, enqueued_at, vt), ";
    notifications
        += " UNION ALL SELECT " + sql_literal(messaging::notify_channel(direct))
           + ", "
           + notification(
               sql_literal(direct),
               sql_literal(messaging::notify_namespace(direct)), "d.msg_id",
               "d.enqueued_at", "d.vt",
               "floor(extract(epoch FROM d.vt - d.enqueued_at))::bigint")
           + " FROM direct d";
  }
  if (deferred)
    return sql + "messages AS MATERIALIZED (" + notifications + ")";
  return sql + "messages AS (SELECT pg_notify(n.channel, n.payload) FROM ("
         + notifications + ") n)";
}

// The notifications a `deferred` statement selected, as text: a JSON
// array of [channel, payload] (NULL when it raised them itself).
std::string deferred_notifications_sql(bool deferred) {
  return deferred ? "(SELECT coalesce(jsonb_agg(jsonb_build_array(m.channel, "
                    "m.payload)), '[]'::jsonb) FROM messages m)::text"
                  : "NULL::text";
}

// Raises the notifications of committed statements ($1, a JSON array of
// [channel, payload]) in a transaction that commits without waiting for
// its WAL flush. In PostgreSQL 15 a transaction that notifies holds one
// lock of the whole server from its commit's start to its end, flush
// included, so durable commits that notify run one at a time; at 1,000
// tasks in flight half the busy backends waited for it. Nothing is lost
// with this transaction: listeners that miss a wake-up find the messages
// when they poll.
constexpr std::string_view kNotifySql
    = "SELECT set_config('synchronous_commit', 'off', true), "
      "pg_notify(n->>0, n->>1) FROM jsonb_array_elements($1::jsonb) n";

// Messages written to the outbox, from the JSON array `messages`.
std::string outbox_messages(std::string_view messages = "$5") {
  return "messages AS (INSERT INTO tasker.outbox (queue, payload, headers, "
         "delay_ms, created_at) SELECT r.queue, r.payload, r.headers, "
         "r.delay_ms, tasker.us_to_time(r.at) FROM jsonb_to_recordset("
         + std::string{messages}
         + "::jsonb) AS r(task_id uuid, queue text, payload text, headers "
           "jsonb, delay_ms bigint, at bigint) WHERE r.task_id IN (SELECT id "
           "FROM task_rows) RETURNING id, queue)";
}

// The outbox rows a statement inserted, as text: a JSON array of [id,
// queue] in id order (NULL when messages go through PGMQ).
std::string inserted_outbox_sql(bool send_with_pgmq) {
  return send_with_pgmq
             ? "NULL::text"
             : "(SELECT coalesce(jsonb_agg(jsonb_build_array(m.id, m.queue) "
               "ORDER BY m.id), '[]'::jsonb) FROM messages m)::text";
}

// The end of a statement writing tasks (`task_rows`) and `messages`: one
// row per task written, then the totals' row (their id NULL) with the
// outbox rows inserted and the notifications to raise, once, not in every
// task's row (a batch of N tasks returned them N times). The totals are a
// CTE of their own: as subqueries joined to the task rows they ran again
// for every row (quadratic in the batch). Counting the messages makes
// their CTE run, which raises or selects the notifications.
std::string written_rows_sql(bool send_with_pgmq, bool deferred) {
  return ", totals AS MATERIALIZED (SELECT (SELECT count(*) FROM messages) "
         "AS messages, "
         + inserted_outbox_sql(send_with_pgmq) + " AS outbox, "
         + deferred_notifications_sql(deferred)
         + " AS notifications) SELECT t.id::text, NULL::text, NULL::text FROM "
           "task_rows t UNION ALL SELECT NULL::text, n.outbox, n.notifications "
           "FROM totals n";
}

// Step results answered by the changes written ($6: task_id, msg_id),
// deleted from the results queue's table by this statement itself (the
// store's connections plan without sequential scans, so the delete goes
// by message id however small the queue was when the plan was made).
// Through `pgmq.delete` it took a quarter of a one-task write's execution
// (its dynamic DELETE is parsed and planned at each call).
const std::string kConsumeResults
    = "consumed AS MATERIALIZED (DELETE FROM pgmq.q_"
      + std::string{config::kStepResultsQueue}
      + " WHERE msg_id = ANY(ARRAY(SELECT r.msg_id FROM "
        "jsonb_to_recordset($6::jsonb) AS r(task_id uuid, msg_id bigint) "
        "WHERE r.task_id IN (SELECT id FROM task_rows))) RETURNING 1)";
// Without PGMQ the results queue is not the store's to delete from.
constexpr std::string_view kConsumeNothing
    = "consumed AS (SELECT 1 FROM jsonb_array_elements($6::jsonb) LIMIT 0)";

// $1 task rows, $2 step rows, $3 transitions, $4 dead-letter entries, $5
// messages, $6 step results answered (JSON arrays): everything one or more
// change sets write. A task
// row with `expected` is written only if the stored revision is that one;
// nothing else of a task whose row was not written is. Returns the ids of
// the tasks written, a row each, then a row with a NULL id, the outbox rows
// inserted (`inserted_outbox_sql`) and the notifications to raise
// (`deferred_notifications_sql`); messages to `direct` are inserted into
// its queue table directly (`send_messages`). The task rows are found through
// `id = ANY(...)`: a generic plan joining the recordset (estimated at 100 rows)
// scanned the whole table, 2.3 ms at 8,000 tasks and growing with it.
std::string write_sql(bool send_with_pgmq, const std::string& direct,
                      bool deferred, bool dead_letters) {
  // Without dead letters (nearly every write) their insert is left out:
  // each execution would open the table and its indexes for nothing. The
  // unused CTE only gives $4 its type; the planner drops it.
  return std::string{dead_letters ? "WITH "
                                  : "WITH unused AS (SELECT "
                                    "$4::jsonb), "}
         + "task_rows AS (UPDATE tasker.tasks t SET state = r.state, "
           "revision = r.revision, "
           "state_since = tasker.us_to_time(r.state_since), completed_at = "
           "tasker.us_to_time(r.completed_at) FROM "
           "jsonb_to_recordset($1::jsonb) "
           "AS r(id uuid, state text, revision bigint, expected bigint, "
           "state_since bigint, completed_at bigint) "
           "WHERE t.id = ANY(ARRAY(SELECT (e->>'id')::uuid FROM "
           "jsonb_array_elements($1::jsonb) e)) AND t.id = r.id AND "
           "(r.expected IS NULL OR t.revision = r.expected) RETURNING t.id), "
           "step_rows AS (UPDATE tasker.workflow_steps s SET state = r.state, "
           "attempts = r.attempts, results = r.results, last_error = "
           "r.last_error, next_retry_at = tasker.us_to_time(r.next_retry_at), "
           "enqueued_at = tasker.us_to_time(r.enqueued_at), completed_at = "
           "tasker.us_to_time(r.completed_at), updated_at = "
           "tasker.us_to_time(r.updated_at) FROM jsonb_to_recordset($2::jsonb) "
           "AS r(id uuid, task_id uuid, state text, attempts integer, results "
           "jsonb, last_error jsonb, next_retry_at bigint, enqueued_at bigint, "
           "completed_at bigint, updated_at bigint) WHERE s.id = r.id AND "
           "r.task_id IN (SELECT id FROM task_rows) RETURNING 1), "
         + history_cte("$3") + ", "
         + (dead_letters
                ? "dead_letters AS (INSERT INTO tasker.tasks_dlq (task_id, "
                  "original_state, reason, snapshot, notes, created_at, "
                  "updated_at) SELECT r.task_id, r.original_state, r.reason, "
                  "r.snapshot, r.notes, tasker.us_to_time(r.at), "
                  "tasker.us_to_time(r.at) FROM jsonb_to_recordset($4::jsonb) "
                  "AS r(task_id uuid, original_state text, reason text, "
                  "snapshot jsonb, notes text, at bigint) WHERE r.task_id IN "
                  "(SELECT id FROM task_rows) RETURNING 1), "
                : "")
         + (send_with_pgmq ? send_messages(direct, "$5", deferred)
                           : outbox_messages())
         + ", "
         + std::string{send_with_pgmq ? kConsumeResults : kConsumeNothing}
         + written_rows_sql(send_with_pgmq, deferred);
}

// $1 tasks, $2 steps, $3 edges, $4 transitions, $5 messages (JSON arrays,
// each row naming its task): tasks as their start leaves them (or as
// created, with no messages). A task whose identity hash exists is not
// inserted, and nothing of it is written or sent. Returns the ids of the
// tasks inserted, a row each, then a row with a NULL id, the outbox rows
// inserted (`inserted_outbox_sql`) and the notifications to raise
// (`deferred_notifications_sql`). Messages to `direct` are inserted into
// its queue table directly (`send_messages`).
std::string create_sql(bool send_with_pgmq, const std::string& direct = {},
                       bool deferred = false) {
  return "WITH task_rows AS (INSERT INTO tasker.tasks (id, namespace, name, "
         "version, context, identity_hash, idempotency_key, priority, "
         "initiator, source_system, reason, created_at, state, revision, "
         "state_since, completed_at) SELECT r.id, r.namespace, r.name, "
         "r.version, r.context, r.identity_hash, r.idempotency_key, "
         "r.priority, r.initiator, r.source_system, r.reason, "
         "tasker.us_to_time(r.created_at), r.state, r.revision, "
         "tasker.us_to_time(r.state_since), tasker.us_to_time(r.completed_at) "
         "FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, namespace text, "
         "name text, version text, context jsonb, identity_hash text, "
         "idempotency_key text, priority integer, initiator text, "
         "source_system text, reason text, created_at bigint, state text, "
         "revision bigint, state_since bigint, completed_at bigint) ON "
         "CONFLICT (identity_hash) DO NOTHING RETURNING id), "
         "steps AS (INSERT INTO tasker.workflow_steps (id, task_id, name, "
         "position, handler, handler_initialization, retryable, max_attempts, "
         "backoff, backoff_base_ms, max_backoff_ms, jitter_percent, "
         "timeout_seconds, state, attempts, results, last_error, "
         "next_retry_at, enqueued_at, completed_at, updated_at) SELECT s.id, "
         "s.task_id, s.name, s.position, s.handler, s.handler_initialization, "
         "s.retryable, s.max_attempts, s.backoff, s.backoff_base_ms, "
         "s.max_backoff_ms, s.jitter_percent, s.timeout_seconds, s.state, "
         "s.attempts, s.results, s.last_error, "
         "tasker.us_to_time(s.next_retry_at), "
         "tasker.us_to_time(s.enqueued_at), "
         "tasker.us_to_time(s.completed_at), tasker.us_to_time(s.updated_at) "
         "FROM jsonb_to_recordset($2::jsonb) AS s(id uuid, task_id uuid, "
         "name text, position integer, handler text, handler_initialization "
         "jsonb, retryable boolean, max_attempts integer, backoff text, "
         "backoff_base_ms bigint, max_backoff_ms bigint, jitter_percent "
         "integer, timeout_seconds integer, state text, attempts integer, "
         "results jsonb, last_error jsonb, next_retry_at bigint, enqueued_at "
         "bigint, completed_at bigint, updated_at bigint) WHERE s.task_id IN "
         "(SELECT id FROM task_rows) RETURNING 1), "
         "edges AS (INSERT INTO tasker.workflow_step_edges (task_id, "
         "from_step, to_step) SELECT e.task_id, e.from_step, e.to_step FROM "
         "jsonb_to_recordset($3::jsonb) AS e(task_id uuid, from_step uuid, "
         "to_step uuid) WHERE e.task_id IN (SELECT id FROM task_rows) "
         "RETURNING 1), "
         + history_cte("$4") + ", "
         + (send_with_pgmq ? send_messages(direct, "$5", deferred)
                           : outbox_messages("$5"))
         + written_rows_sql(send_with_pgmq, deferred);
}

// In the order the rows were written: their ids are drawn while the task
// row is locked, whereas `at` comes from the clocks of the changing nodes.
// The two transition tables hold the history written before
// `task_history` (schema migration 2).
constexpr std::string_view kHistorySql
    = "SELECT h.task_id::text, h.step_id::text, h.from_state, h.to_state, "
      "h.event, h.metadata::text, h.at, h.node FROM (SELECT id, 0::bigint AS "
      "n, task_id, NULL::uuid AS step_id, from_state, to_state, event, "
      "metadata, tasker.time_to_us(at) AS at, node FROM "
      "tasker.task_transitions WHERE task_id = $1::uuid UNION ALL SELECT id, "
      "0, task_id, step_id, from_state, to_state, event, metadata, "
      "tasker.time_to_us(at), node FROM tasker.workflow_step_transitions "
      "WHERE task_id = $1::uuid UNION ALL SELECT g.id, x.n, g.task_id, "
      "(x.e->>'step_id')::uuid, x.e->>'from_state', x.e->>'to_state', "
      "x.e->>'event', NULLIF(x.e->'metadata', 'null'::jsonb), "
      "(x.e->>'at')::bigint, x.e->>'node' FROM tasker.task_history g CROSS "
      "JOIN LATERAL jsonb_array_elements(g.entries) WITH ORDINALITY AS x(e, "
      "n) WHERE g.task_id = $1::uuid) h ORDER BY h.id, h.n";

// $1 state, $2 namespace, $3 name (NULL when not filtered on), $4 limit,
// $5 offset. `filters` has a bit per filter in use; an unused parameter
// is only type-checked, so each variant plans like the query it is.
std::string list_sql(unsigned filters) {
  std::string where
      = std::string{(filters & 1) != 0 ? "state = $1" : "$1::text IS NULL"}
        + " AND " + ((filters & 2) != 0 ? "namespace = $2" : "$2::text IS NULL")
        + " AND " + ((filters & 4) != 0 ? "name = $3" : "$3::text IS NULL");
  return "SELECT c.total, " + std::string{kTaskColumns}
         + ", t.context::text FROM (SELECT count(*) AS total FROM "
           "tasker.tasks WHERE "
         + where + ") c LEFT JOIN LATERAL (SELECT * FROM tasker.tasks WHERE "
         + where
         + " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5) t ON true "
           "ORDER BY t.created_at DESC, t.id DESC";
}

constexpr std::string_view kOutboxSql
    = "SELECT id, queue, payload, headers::text, delay_ms, "
      "tasker.time_to_us(created_at) FROM tasker.outbox ORDER BY id LIMIT $1";

constexpr std::string_view kRemoveOutboxSql
    = "DELETE FROM tasker.outbox WHERE id = ANY($1::bigint[])";

// Driven by the due steps (partial index); each one's task state is read
// by primary key. The subquery has no state condition and is fenced with
// OFFSET 0, so the planner cannot use the partial index of live tasks with
// a join filter, which it did with stale statistics (a scan of every live
// task per due step).
constexpr std::string_view kDueRetriesSql
    = "SELECT s.task_id::text FROM tasker.workflow_steps s CROSS JOIN "
      "LATERAL (SELECT t.state FROM tasker.tasks t WHERE t.id = s.task_id "
      "OFFSET 0) t WHERE s.state = 'waiting_for_retry' AND s.next_retry_at <= "
      "tasker.us_to_time($1) AND t.state NOT IN ('complete', 'error', "
      "'cancelled', 'resolved_manually') GROUP BY s.task_id ORDER BY "
      "min(s.next_retry_at) LIMIT $2";

// $1 now (us), $2 grace (s), $3 limit. Timeouts are positive, so an
// overdue step was enqueued more than the grace ago: that bound lets the
// index scan skip the steps running now (at 1,000 tasks in flight it read
// every one of them, 924 rows and 718 buffers in one look; 176 buffers
// with the bound).
constexpr std::string_view kOverdueSql
    = "SELECT s.task_id::text, s.id::text, s.attempts FROM "
      "tasker.workflow_steps s WHERE s.state IN ('enqueued', 'in_progress') "
      "AND s.enqueued_at <= tasker.us_to_time($1) - $2::bigint * interval '1 "
      "second' AND s.timeout_seconds IS NOT NULL AND s.enqueued_at + "
      "(s.timeout_seconds + $2::bigint) * interval '1 second' <= "
      "tasker.us_to_time($1) ORDER BY s.enqueued_at LIMIT $3";

// $1-$3 the latest state_since that is stale in waiting_for_dependencies,
// waiting_for_retry and steps_in_process, $4 the latest stale created_at,
// $5 limit (all times in us).
constexpr std::string_view kStaleSql
    = "SELECT t.id::text FROM tasker.tasks t WHERE t.state NOT IN "
      "('complete', 'error', 'cancelled', 'resolved_manually') AND "
      "((t.state = 'waiting_for_dependencies' AND t.state_since <= "
      "tasker.us_to_time($1)) OR (t.state = 'waiting_for_retry' AND "
      "t.state_since <= tasker.us_to_time($2)) OR (t.state = "
      "'steps_in_process' AND t.state_since <= tasker.us_to_time($3)) OR "
      "t.created_at <= tasker.us_to_time($4)) ORDER BY t.created_at LIMIT $5";

/// One of the store's prepared statements with its arguments, so that a
/// query and `explain_due_work` run the very same statement.
template <class... Args>
struct Statement {
  std::string name;
  std::string_view sql;
  std::tuple<Args...> args;

  pqxx::result run(PooledConnection& c, pqxx::transaction_base& tx) const {
    return std::apply(
        [&](const Args&... arg) {
          return tx.exec_prepared(c.statement(name, sql), arg...);
        },
        args);
  }

  /// Runs the statement under `EXPLAIN (ANALYZE, BUFFERS)` and returns the
  /// plan the server used for it on this connection, a line per row.
  std::string explain(PooledConnection& c, pqxx::transaction_base& tx) const {
    c.connection->prepare_now(c.statement(name, sql));
    std::string call
        = "EXPLAIN (ANALYZE, BUFFERS) EXECUTE " + tx.quote_name(name) + " (";
    std::apply(
        [&](const Args&... arg) {
          std::string separator;
          ((call += separator + tx.quote(arg), separator = ", "), ...);
        },
        args);
    std::string plan;
    for (const auto& row : tx.exec(call + ")"))
      plan += row[0].as<std::string>() + "\n";
    return plan;
  }
};

Statement<int64_t, int32_t> due_retries_statement(TimePoint now,
                                                  int32_t limit) {
  return {"due_retries", kDueRetriesSql, {to_us(now), std::max(0, limit)}};
}

Statement<int64_t, int64_t, int32_t>
overdue_statement(TimePoint now, std::chrono::seconds grace, int32_t limit) {
  return {
      "overdue_steps",
      kOverdueSql,
      {to_us(now), static_cast<int64_t>(grace.count()), std::max(0, limit)}};
}

Statement<int64_t, int64_t, int64_t, int64_t, int32_t>
stale_statement(TimePoint now, const StalenessLimits& limits, int32_t limit) {
  return {"stale_tasks",
          kStaleSql,
          {to_us(now - limits.waiting_for_dependencies),
           to_us(now - limits.waiting_for_retry),
           to_us(now - limits.steps_in_process), to_us(now - limits.lifetime),
           std::max(0, limit)}};
}

constexpr std::string_view kDeadLetterColumns
    = "id, task_id::text, original_state, reason, resolution, "
      "snapshot::text, notes, resolved_by, tasker.time_to_us(created_at), "
      "tasker.time_to_us(updated_at)";

std::string dead_letters_sql(bool filtered) {
  return "SELECT " + std::string{kDeadLetterColumns}
         + " FROM tasker.tasks_dlq WHERE "
         + (filtered ? "resolution = $1" : "$1::text IS NULL")
         + " ORDER BY id LIMIT $2";
}

const std::string& resolve_sql() {
  static const std::string sql
      = "UPDATE tasker.tasks_dlq SET resolution = $2, notes = $3, "
        "resolved_by = $4, updated_at = tasker.us_to_time($5) WHERE id = $1 "
        "RETURNING "
        + std::string{kDeadLetterColumns};
  return sql;
}

// -- reading rows -------------------------------------------------------------

// Reads `kTaskColumns` (not the context).
TaskRecord read_task(Fields& f) {
  TaskRecord task;
  task.id = f.text();
  task.namespace_name = f.text();
  task.name = f.text();
  task.version = f.text();
  task.identity_hash = f.text();
  task.idempotency_key = f.optional_text();
  task.priority = f.value<int32_t>();
  task.initiator = f.text();
  task.source_system = f.text();
  task.reason = f.text();
  task.state = parse_task_state(f.text()).value_or(TaskState::error);
  task.revision = f.value<int64_t>();
  task.created_at = f.time();
  task.state_since = f.time();
  task.completed_at = f.optional_time();
  return task;
}

std::vector<std::string> split_ids(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = std::min(text.find(',', pos), text.size());
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

StepRecord read_step(Fields& f, const std::string& task_id) {
  StepRecord step;
  step.id = f.text();
  step.task_id = task_id;
  step.name = f.text();
  step.handler = f.text();
  step.handler_initialization = f.document();
  step.state = parse_step_state(f.text()).value_or(StepState::error);
  step.attempts = f.value<int32_t>();
  step.retry.retryable = f.value<bool>();
  step.retry.max_attempts = f.value<int32_t>();
  step.retry.backoff = config::parse_backoff_kind(f.text()).value_or(
      config::BackoffKind::exponential);
  step.retry.backoff_base_ms = f.value<int64_t>();
  step.retry.max_backoff_ms = f.value<int64_t>();
  step.retry.jitter_percent = f.value<int32_t>();
  step.timeout_seconds = f.optional_value<int32_t>();
  step.parents = split_ids(f.text_or_empty());
  step.results = f.document();
  step.last_error = f.document();
  step.next_retry_at = f.optional_time();
  step.enqueued_at = f.optional_time();
  step.completed_at = f.optional_time();
  step.updated_at = f.time();
  return step;
}

/// A task as loaded for a change: its snapshot, and whether it has a
/// pending dead-letter entry.
struct LoadedTask {
  TaskSnapshot snapshot;
  bool pending_dead_letter = false;
};

// Reads the rows of `snapshot_sql`, by task id.
std::map<std::string, LoadedTask> read_snapshots(const pqxx::result& rows) {
  std::map<std::string, LoadedTask> out;
  LoadedTask* current = nullptr;
  for (const auto& row : rows) {
    Fields f{row};
    auto task = read_task(f);
    auto context = f.next();
    auto pending = f.value<bool>();
    if (current == nullptr || current->snapshot.task.id != task.id) {
      current = &out[task.id];
      current->snapshot.task = std::move(task);
      current->snapshot.task.context
          = context.is_null() ? json() : json::parse(context.c_str());
      current->pending_dead_letter = pending;
    }
    if (!f.next_is_null())
      current->snapshot.steps.push_back(
          read_step(f, current->snapshot.task.id));
  }
  return out;
}

// -- what a change writes -----------------------------------------------------

// What a change may write of a step: its state and progress.
json step_state_row(const StepRecord& step) {
  return {{"state", to_string(step.state)},
          {"attempts", step.attempts},
          {"results", step.results},
          {"last_error", step.last_error},
          {"next_retry_at", us_or_null(step.next_retry_at)},
          {"enqueued_at", us_or_null(step.enqueued_at)},
          {"completed_at", us_or_null(step.completed_at)},
          {"updated_at", to_us(step.updated_at)}};
}

/// What a change writes of a task's row (never its context, which a copy
/// of the whole record would copy at every change).
struct TaskRow {
  TaskState state = TaskState::pending;
  int64_t revision = 0;
  TimePoint state_since;
  std::optional<TimePoint> completed_at;
};

/// What one or more change sets write: the latest row of each changed task
/// and step (a later change set overrides an earlier one), and every
/// transition, dead-letter entry and message in order.
struct Writes {
  std::map<std::string, TaskRow> tasks;
  std::map<std::string, StepRecord> steps;
  json transitions = json::array();
  json dead_letters = json::array();
  json messages = json::array();
  /// Step results answered, deleted with their task's change.
  json consumed = json::array();
  /// The messages written to the outbox, by task, in `messages` order
  /// (their ids are the statement's to draw).
  std::vector<std::pair<std::string, OutboxEntry>> outbox;
  /// The queues the messages go to, for error messages.
  std::set<std::string> queues;
  /// Tasks written without being locked and read first: the revision their
  /// row must still have, or nothing of the task is written.
  std::map<std::string, int64_t> guards;

  bool empty() const {
    return tasks.empty() && steps.empty() && transitions.empty()
           && dead_letters.empty() && messages.empty() && consumed.empty();
  }

  void merge(Writes&& other) {
    for (auto& [id, task] : other.tasks)
      tasks.insert_or_assign(id, std::move(task));
    for (auto& [id, step] : other.steps)
      steps.insert_or_assign(id, std::move(step));
    auto append = [](json& to, json& from) {
      for (auto& item : from)
        to.push_back(std::move(item));
    };
    append(transitions, other.transitions);
    append(dead_letters, other.dead_letters);
    append(messages, other.messages);
    append(consumed, other.consumed);
    std::move(other.outbox.begin(), other.outbox.end(),
              std::back_inserter(outbox));
    queues.merge(other.queues);
  }

  /// The one queue all messages go to, or empty.
  std::string queue() const {
    return queues.size() == 1 ? *queues.begin() : std::string{};
  }

  /// The queue most messages go to (the first in name order of those
  /// tied), or empty when there are none.
  std::string busiest_queue() const {
    if (queues.size() <= 1)
      return queue();
    std::map<std::string, int> counts;
    for (const auto& message : messages)
      ++counts[message.at("queue").get<std::string>()];
    auto busiest = std::max_element(counts.begin(), counts.end(),
                                    [](const auto& a, const auto& b) {
                                      return a.second < b.second;
                                    });
    return busiest->first;
  }

  json task_rows() const {
    auto rows = json::array();
    for (const auto& [id, task] : tasks) {
      auto guard = guards.find(id);
      rows.push_back(
          {{"id", id},
           {"state", to_string(task.state)},
           {"revision", task.revision},
           {"expected", guard == guards.end() ? json() : json(guard->second)},
           {"state_since", to_us(task.state_since)},
           {"completed_at", us_or_null(task.completed_at)}});
    }
    return rows;
  }

  json step_rows() const {
    auto rows = json::array();
    for (const auto& [id, step] : steps) {
      auto row = step_state_row(step);
      row["id"] = id;
      row["task_id"] = step.task_id;
      rows.push_back(std::move(row));
    }
    return rows;
  }
};

json optional_text(const std::string& text) {
  return text.empty() ? json() : json(text);
}

json transition_row(const TransitionRecord& t) {
  return {{"task_id", t.task_id},
          {"step_id", optional_text(t.step_id)},
          {"from_state", optional_text(t.from_state)},
          {"to_state", t.to_state},
          {"event", t.event},
          {"metadata", t.metadata},
          {"at", to_us(t.at)},
          {"node", t.node}};
}

json headers_or_null(const messaging::Headers& headers) {
  return headers.empty() ? json() : json(headers);
}

// The outbox entries of `writes` a statement inserted, with their ids:
// `inserted` is the statement's [id, queue] pairs in id order, and the
// entries of the tasks written (all when `written` is null) take their
// queue's ids in order. Empty when the two do not match up; the relay then
// reads the rows from the table. Never throws: the rows are committed.
std::vector<OutboxEntry>
inserted_outbox(const Writes& writes, const std::set<std::string>* written,
                const std::optional<std::string>& inserted) {
  if (!inserted || writes.outbox.empty())
    return {};
  auto pairs = json::parse(*inserted, nullptr, false);
  if (!pairs.is_array())
    return {};
  std::map<std::string, std::deque<int64_t>> ids;
  for (const auto& pair : pairs) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer()
        || !pair[1].is_string())
      return {};
    ids[pair[1].get<std::string>()].push_back(pair[0].get<int64_t>());
  }
  std::vector<OutboxEntry> out;
  for (const auto& [task_id, entry] : writes.outbox) {
    if (written != nullptr && !written->contains(task_id))
      continue;
    auto queue = ids.find(entry.outbound.queue);
    if (queue == ids.end() || queue->second.empty())
      return {};
    out.push_back(entry);
    out.back().id = queue->second.front();
    queue->second.pop_front();
  }
  for (const auto& [queue, left] : ids)
    if (!left.empty())
      return {};
  return out;
}

/// What a statement ending in `written_rows_sql` returned.
struct WrittenRows {
  /// The ids of the tasks written.
  std::set<std::string> tasks;
  /// The outbox rows inserted (`inserted_outbox_sql`).
  std::optional<std::string> outbox;
  /// The notifications it selected (`deferred_notifications_sql`).
  std::optional<std::string> notifications;
};

WrittenRows read_written(const pqxx::result& rows) {
  WrittenRows out;
  for (const auto& row : rows) {
    if (!row[0].is_null()) {
      out.tasks.insert(row[0].as<std::string>());
      continue;
    }
    if (!row[1].is_null())
      out.outbox = row[1].as<std::string>();
    if (!row[2].is_null())
      out.notifications = row[2].as<std::string>();
  }
  return out;
}

// The outcomes of a batch, every one of them set.
template <class T>
std::vector<Result<T>> unwrapped(std::vector<std::optional<Result<T>>> all) {
  std::vector<Result<T>> out;
  out.reserve(all.size());
  for (auto& outcome : all)
    out.push_back(std::move(*outcome));
  return out;
}

/// A change set worked out: the task after it and what it writes.
struct Planned {
  TaskSnapshot after;
  Writes writes;
};

// Works `change` out against the loaded task: every guard is checked by
// `apply_change`, none here.
Result<Planned> plan_change(const LoadedTask& loaded, const ChangeSet& change,
                            bool send_with_pgmq) {
  auto applied = apply_change(loaded.snapshot, change);
  if (!applied)
    return applied.error();
  Planned out{std::move(applied->after), {}};
  truncate_times(out.after);
  auto& writes = out.writes;
  for (const auto& outbound : change.messages) {
    if (auto valid = config::validate_queue_name(outbound.queue); !valid)
      return Error{valid.error().code(), "change of task " + change.task_id
                                             + ": " + valid.error().message()};
    const auto& m = outbound.message;
    json row{{"task_id", change.task_id},
             {"queue", outbound.queue},
             {"payload", m.payload},
             {"headers", headers_or_null(m.headers)},
             {"delay_ms", std::max<int64_t>(0, m.delay.count())}};
    if (send_with_pgmq) {
      row["namespace"] = messaging::notify_namespace(outbound.queue);
      row["channel"] = messaging::notify_channel(outbound.queue);
    } else {
      row["at"] = to_us(change.at);
      OutboxEntry entry{0, outbound, from_us(to_us(change.at))};
      entry.outbound.message.delay
          = std::max(std::chrono::milliseconds{0}, m.delay);
      writes.outbox.emplace_back(change.task_id, std::move(entry));
    }
    writes.messages.push_back(std::move(row));
    writes.queues.insert(outbound.queue);
  }
  if (change.consumed_result && send_with_pgmq)
    writes.consumed.push_back(
        {{"task_id", change.task_id}, {"msg_id", *change.consumed_result}});
  // Every change moves the revision, so the task row is always written.
  const auto& before = loaded.snapshot.task;
  const auto& task = out.after.task;
  writes.tasks[task.id]
      = TaskRow{task.state, task.revision, task.state_since, task.completed_at};
  for (const auto& step : change.steps)
    writes.steps[step.step_id] = *out.after.step_by_id(step.step_id);
  for (const auto& transition : applied->transitions)
    writes.transitions.push_back(transition_row(transition));
  // One pending investigation per task: a second give-up joins it.
  if (change.dead_letter && !loaded.pending_dead_letter)
    writes.dead_letters.push_back(
        {{"task_id", change.task_id},
         {"original_state", to_string(before.state)},
         {"reason", to_string(change.dead_letter->reason)},
         {"snapshot", json(loaded.snapshot)},
         {"notes", change.dead_letter->notes},
         {"at", to_us(change.at)}});
  return out;
}

bool is_connection_state(const std::string& sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

const std::string& load_sql() {
  static const std::string sql = snapshot_sql("t.id = ANY($1::uuid[])", false);
  return sql;
}

const std::string& lock_sql() {
  static const std::string sql = snapshot_sql("t.id = ANY($1::uuid[])", true);
  return sql;
}

const std::string& identity_sql() {
  static const std::string sql = snapshot_sql("t.identity_hash = $1", false);
  return sql;
}

} // namespace

// -- state --------------------------------------------------------------------

struct PgTaskStore::State {
  State(PgTaskStoreOptions opts, std::string info, std::string where)
      : options(std::move(opts)), conninfo(std::move(info)),
        endpoint(std::move(where)),
        pool(conninfo, static_cast<std::size_t>(options.pool_size),
             messaging::Planning::by_key) {}

  PgTaskStoreOptions options;
  std::string conninfo;
  /// "host:port", named in connection errors.
  std::string endpoint;
  ConnectionPool pool;
  /// Creations and change batches running on this store now.
  std::atomic<int> writes_in_flight{0};
  /// Outbox entries this store committed, for the relay to take without
  /// reading the table (`take_outbox`); bounded, as the table has them too.
  std::mutex outbox_mutex;
  std::deque<OutboxEntry> committed_outbox;
  /// When the relay last read the table.
  std::optional<SteadyClock::time_point> outbox_read_at;

  void note_committed(std::vector<OutboxEntry> entries) {
    std::lock_guard<std::mutex> guard{outbox_mutex};
    for (auto& entry : entries) {
      if (committed_outbox.size() >= kCommittedOutboxKept)
        break;
      committed_outbox.push_back(std::move(entry));
    }
  }

  /// Counts a write in `writes_in_flight` while it lives.
  class WriteInFlight {
   public:
    explicit WriteInFlight(std::atomic<int>& count) : count_(count) {
      ++count_;
    }
    ~WriteInFlight() {
      --count_;
    }
    WriteInFlight(const WriteInFlight&) = delete;
    WriteInFlight& operator=(const WriteInFlight&) = delete;

   private:
    std::atomic<int>& count_;
  };

  /// Whether a write of `change_sets` raises its notifications after its
  /// commit (`kNotifySql`): when the store is busy (a batch, or another
  /// write running), so that durable commits do not queue for PostgreSQL's
  /// notification lock. A write alone raises them itself: one round trip
  /// fewer before its listeners wake.
  bool defers_notifications(std::size_t change_sets) const {
    return options.send_with_pgmq
           && (change_sets > 1 || writes_in_flight.load() > 1);
  }

  /// Raises the notifications committed writes deferred (JSON arrays of
  /// [channel, payload]). A failure is logged, not returned: the writes
  /// are committed, and listeners find their messages when they poll.
  void raise_notifications(PooledConnection& c,
                           const std::vector<std::string>& deferred) {
    std::string all;
    for (const auto& array : deferred) {
      // Each is "[...]" with at least one element.
      if (array.size() <= 2)
        continue;
      all += all.empty() ? "[" : ",";
      all.append(array, 1, array.size() - 2);
    }
    if (all.empty())
      return;
    all += "]";
    try {
      pqxx::nontransaction tx{*c.connection, "notify"};
      tx.exec_prepared(c.statement("notify_deferred", kNotifySql), all);
    } catch (const std::exception& e) {
      core::log_warn(kComponent,
                     std::string{"raising notifications after a commit "
                                 "failed (listeners will find the messages "
                                 "when they poll): "}
                         + e.what());
    }
  }

  Error located(const Error& error) const {
    if (error.code() != ErrorCode::backend_unavailable)
      return error;
    return Error{error.code(),
                 error.message() + " (PostgreSQL at " + endpoint + ")"};
  }

  /// Runs `body(PooledConnection&) -> Result<T>` on a pooled connection,
  /// translating exceptions once, here. A `retry_safe` body runs again on
  /// a fresh connection when its connection broke.
  template <class T, class Body>
  Result<T> run(const std::string& operation, std::string_view queue,
                bool retry_safe, Body&& body) {
    for (bool retried = false;; retried = true) {
      std::optional<ConnectionLease> lease;
      try {
        lease.emplace(pool.acquire());
        return body(**lease);
      } catch (const pqxx::broken_connection&) {
        auto error = located(current_task_store_error(operation, queue));
        if (!lease)
          return error;
        lease->discard();
        if (!retry_safe || retried)
          return error;
      } catch (...) {
        auto error = located(current_task_store_error(operation, queue));
        if (lease)
          lease->discard_if_closed();
        return error;
      }
    }
  }

  /// Writes `writes`; returns the ids of the tasks written (a guarded
  /// task whose revision moved on is not). With `deferred`, its
  /// notifications are appended there instead of raised
  /// (`raise_notifications`).
  std::set<std::string> write(PooledConnection& c, pqxx::transaction_base& tx,
                              const Writes& writes,
                              std::vector<OutboxEntry>& inserted,
                              std::vector<std::string>* deferred) {
    auto direct
        = options.send_with_pgmq ? writes.busiest_queue() : std::string{};
    bool dead_letters = !writes.dead_letters.empty();
    auto statement = c.statement(
        std::string{"write"} + (deferred != nullptr ? " deferred" : "")
            + (dead_letters ? " dead letters" : "")
            + (direct.empty() ? "" : " " + direct),
        [&] {
          return write_sql(options.send_with_pgmq || deferred != nullptr,
                           direct, deferred != nullptr, dead_letters);
        });
    auto rows = tx.exec_prepared(
        statement, writes.task_rows().dump(), writes.step_rows().dump(),
        writes.transitions.dump(), writes.dead_letters.dump(),
        writes.messages.dump(), writes.consumed.dump());
    auto written = read_written(rows);
    if (deferred != nullptr && written.notifications)
      deferred->push_back(std::move(*written.notifications));
    auto entries = inserted_outbox(writes, &written.tasks, written.outbox);
    std::move(entries.begin(), entries.end(), std::back_inserter(inserted));
    return std::move(written.tasks);
  }

  // Writes one change set under a savepoint: an SQL error undoes it alone.
  // Plain SAVEPOINT statements: libpqxx 6.4's subtransaction sends its
  // SAVEPOINT lazily, and never when only prepared statements run in it.
  Result<std::set<std::string>>
  write_alone(PooledConnection& c, pqxx::work& tx, const Writes& writes,
              const std::string& task_id, std::vector<OutboxEntry>& inserted,
              std::vector<std::string>* deferred) {
    tx.exec0("SAVEPOINT change_set");
    std::set<std::string> written;
    try {
      written = write(c, tx, writes, inserted, deferred);
    } catch (const pqxx::sql_error& e) {
      if (is_connection_state(e.sqlstate()))
        throw;
      auto error = located(
          current_task_store_error("apply to task " + task_id, writes.queue()));
      tx.exec0("ROLLBACK TO SAVEPOINT change_set");
      return error;
    }
    tx.exec0("RELEASE SAVEPOINT change_set");
    return written;
  }

  /// Applies `changes` in one transaction. The tasks are locked in id
  /// order (so concurrent batches cannot deadlock) and loaded in one
  /// statement, unless every one comes with its basis; each change set is
  /// worked out against the task as the sets before it left it. `alone`: each
  /// set is written under its own savepoint; else all in one statement, whose
  /// failure throws. The notifications go out with the commit, or after it
  /// (`defers_notifications`).
  std::vector<Result<TaskSnapshot>>
  apply_sets(PooledConnection& c, std::span<const ChangeSet> changes,
             bool alone) {
    WriteInFlight in_flight{writes_in_flight};
    std::vector<std::string> notifications;
    auto* deferred
        = defers_notifications(changes.size()) ? &notifications : nullptr;
    std::vector<OutboxEntry> inserted;
    std::map<std::string, LoadedTask> loaded;
    // A task whose first change brings the snapshot it was decided on is
    // written guarded by its revision, without being locked and read
    // first; the others (and any with a dead letter, which depends on the
    // stored pending one) are.
    std::map<std::string, int64_t> guards;
    std::set<std::string> read_first;
    for (const auto& change : changes)
      if (change.dead_letter)
        read_first.insert(change.task_id);
    std::vector<std::string> ids;
    for (const auto& change : changes) {
      if (!is_uuid(change.task_id) || loaded.contains(change.task_id))
        continue;
      const auto& basis = change.basis;
      if (basis && change.expected_revision && basis->task.id == change.task_id
          && basis->task.revision == *change.expected_revision
          && !read_first.contains(change.task_id)) {
        loaded.emplace(change.task_id, LoadedTask{*basis, false});
        guards.emplace(change.task_id, basis->task.revision);
      } else {
        ids.push_back(change.task_id);
      }
    }
    // Tasks are locked in id order, so that concurrent batches cannot
    // deadlock: a batch that locks some locks them all.
    if (!ids.empty() && !guards.empty()) {
      for (const auto& [id, revision] : guards)
        ids.push_back(id);
      guards.clear();
      loaded.clear();
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<Result<TaskSnapshot>> results;
    if (ids.empty() && !alone) {
      // Nothing to lock: one statement, committed on its own.
      pqxx::nontransaction tx{*c.connection, "apply"};
      results = decide_and_write(c, tx, nullptr, changes, loaded, guards,
                                 inserted, deferred);
    } else {
      pqxx::work tx{*c.connection, "apply"};
      if (!ids.empty())
        loaded.merge(read_snapshots(tx.exec_prepared(
            c.statement("lock_tasks", lock_sql()), plain_array(ids))));
      results = decide_and_write(c, tx, alone ? &tx : nullptr, changes, loaded,
                                 guards, inserted, deferred);
      tx.commit();
    }
    note_committed(std::move(inserted));
    raise_notifications(c, notifications);
    return results;
  }

  /// Works each change set out against `loaded` and writes them: all in
  /// one statement, or each under its own savepoint of `savepoints`.
  /// Guarded tasks whose revision moved on are written nothing.
  std::vector<Result<TaskSnapshot>>
  decide_and_write(PooledConnection& c, pqxx::transaction_base& tx,
                   pqxx::work* savepoints, std::span<const ChangeSet> changes,
                   std::map<std::string, LoadedTask>& loaded,
                   std::map<std::string, int64_t>& guards,
                   std::vector<OutboxEntry>& inserted,
                   std::vector<std::string>* deferred) {
    const bool alone = savepoints != nullptr;
    std::vector<Result<TaskSnapshot>> results;
    std::vector<const std::string*> task_of;
    std::set<std::string> moved_on;
    auto stale = [&](const std::string& task_id) {
      return Error{ErrorCode::stale_transition,
                   "task " + task_id + " changed since revision "
                       + std::to_string(guards.at(task_id))};
    };
    Writes together;
    for (const auto& change : changes) {
      task_of.push_back(&change.task_id);
      if (moved_on.contains(change.task_id)) {
        results.emplace_back(stale(change.task_id));
        continue;
      }
      auto task = loaded.find(change.task_id);
      if (task == loaded.end()) {
        results.emplace_back(
            Error{ErrorCode::not_found, task_not_found(change.task_id)});
        continue;
      }
      auto planned = plan_change(task->second, change, options.send_with_pgmq);
      if (!planned) {
        results.emplace_back(planned.error());
        continue;
      }
      if (!alone) {
        together.merge(std::move(planned->writes));
      } else if (!planned->writes.empty()) {
        auto guard = guards.find(change.task_id);
        if (guard != guards.end())
          planned->writes.guards.insert(*guard);
        auto written = write_alone(c, *savepoints, planned->writes,
                                   change.task_id, inserted, deferred);
        if (!written) {
          results.emplace_back(written.error());
          continue;
        }
        if (!written->contains(change.task_id)) {
          moved_on.insert(change.task_id);
          results.emplace_back(stale(change.task_id));
          continue;
        }
        // Locked by this transaction now: later changes need no guard.
        if (guard != guards.end())
          guards.erase(guard);
      }
      task->second.snapshot = planned->after;
      task->second.pending_dead_letter |= change.dead_letter.has_value();
      results.emplace_back(std::move(planned->after));
    }
    if (!together.empty()) {
      together.guards = guards;
      auto written = write(c, tx, together, inserted, deferred);
      for (std::size_t i = 0; i < results.size(); ++i)
        if (results[i] && guards.contains(*task_of[i])
            && !written.contains(*task_of[i]))
          results[i] = stale(*task_of[i]);
    }
    return results;
  }
};

PgTaskStore::PgTaskStore(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

// -- connect ------------------------------------------------------------------

core::Result<PgTaskStore> PgTaskStore::connect(PgTaskStoreOptions options) {
  auto first = messaging::open_first_connection(
      "task store", options.url, options.connect_timeout,
      options.connect_retries, options.pool_size, kComponent,
      current_task_store_error, messaging::Planning::by_key);
  if (!first)
    return first.error();
  auto& [conninfo, endpoint, connection] = *first;
  auto at_endpoint = [&](const Error& error) {
    return Error{error.code(),
                 error.message() + " (PostgreSQL at " + endpoint + ")"};
  };
  if (auto schema = install_task_schema(*connection); !schema)
    return at_endpoint(schema.error());
  if (options.send_with_pgmq) {
    if (auto pgmq = messaging::install_or_verify_pgmq_schema(*connection);
        !pgmq)
      return at_endpoint(pgmq.error());
    // Changes delete the step results they answer from it.
    try {
      pqxx::nontransaction tx{*connection};
      tx.exec_params("SELECT pgmq.create($1)",
                     std::string{config::kStepResultsQueue});
    } catch (...) {
      return at_endpoint(current_task_store_error(
          "creating the step results queue", config::kStepResultsQueue));
    }
  }
  core::log_info(kComponent,
                 "connected to PostgreSQL at " + endpoint + " (messages "
                     + (options.send_with_pgmq ? "sent with PGMQ"
                                               : "written to the outbox")
                     + ")");
  auto state = std::make_shared<State>(std::move(options), std::move(conninfo),
                                       std::move(endpoint));
  state->pool.adopt(std::move(connection));
  return PgTaskStore{std::move(state)};
}

// -- tasks --------------------------------------------------------------------

core::Result<CreatedTask> PgTaskStore::create_task(const NewTask& request,
                                                   const StartPlanner& start) {
  return std::move(create_tasks(std::span{&request, 1}, start).front());
}

std::vector<core::Result<CreatedTask>>
PgTaskStore::create_tasks(std::span<const NewTask> requests,
                          const StartPlanner& start) {
  auto now = truncated(Clock::now());
  const bool send_with_pgmq = state_->options.send_with_pgmq;
  std::vector<std::optional<Result<CreatedTask>>> outcomes(requests.size());
  // The tasks laid out (as their start leaves them), by request.
  std::vector<std::optional<CreatedTask>> laid_out(requests.size());
  auto tasks = json::array();
  auto steps = json::array();
  auto edges = json::array();
  Writes writes;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto created = new_task_snapshot(requests[i], now);
    if (!created) {
      outcomes[i] = created.error();
      continue;
    }
    // The start, worked out on the task as laid out, is written by the same
    // statement: the task's rows are inserted as the start leaves them.
    std::optional<Planned> started;
    if (start)
      if (auto change = start(*created))
        if (auto planned
            = plan_change(LoadedTask{*created, false}, *change, send_with_pgmq))
          started = std::move(*planned);
    for (const auto& row : creation_history(*created, now))
      writes.transitions.push_back(transition_row(row));
    if (started)
      writes.merge(std::move(started->writes));
    auto& snapshot = started ? started->after : *created;
    const auto& task = snapshot.task;
    tasks.push_back(
        {{"id", task.id},
         {"namespace", task.namespace_name},
         {"name", task.name},
         {"version", task.version},
         {"context", task.context},
         {"identity_hash", task.identity_hash},
         {"idempotency_key",
          task.idempotency_key ? json(*task.idempotency_key) : json()},
         {"priority", task.priority},
         {"initiator", task.initiator},
         {"source_system", task.source_system},
         {"reason", task.reason},
         {"created_at", to_us(now)},
         {"state", to_string(task.state)},
         {"revision", task.revision},
         {"state_since", to_us(task.state_since)},
         {"completed_at", us_or_null(task.completed_at)}});
    for (std::size_t position = 0; position < snapshot.steps.size();
         ++position) {
      const auto& record = snapshot.steps[position];
      for (const auto& parent : record.parents)
        edges.push_back({{"task_id", task.id},
                         {"from_step", parent},
                         {"to_step", record.id}});
      auto row = step_state_row(record);
      row.update(
          {{"id", record.id},
           {"task_id", task.id},
           {"name", record.name},
           {"position", static_cast<int64_t>(position)},
           {"handler", record.handler},
           {"handler_initialization", record.handler_initialization},
           {"retryable", record.retry.retryable},
           {"max_attempts", record.retry.max_attempts},
           {"backoff", config::to_string(record.retry.backoff)},
           {"backoff_base_ms", record.retry.backoff_base_ms},
           {"max_backoff_ms", record.retry.max_backoff_ms},
           {"jitter_percent", record.retry.jitter_percent},
           {"timeout_seconds",
            record.timeout_seconds ? json(*record.timeout_seconds) : json()}});
      steps.push_back(std::move(row));
    }
    laid_out[i] = CreatedTask{std::move(snapshot), true, started.has_value()};
  }
  if (tasks.empty())
    return unwrapped(std::move(outcomes));
  auto direct = send_with_pgmq ? writes.busiest_queue() : std::string{};
  auto inserted = state_->run<std::set<std::string>>(
      requests.size() == 1
          ? "create_task '" + requests.front().name + "'"
          : "create_tasks (" + std::to_string(tasks.size()) + " tasks)",
      writes.queue(), false,
      [&](PooledConnection& c) -> Result<std::set<std::string>> {
        State::WriteInFlight in_flight{state_->writes_in_flight};
        const bool deferred = state_->defers_notifications(tasks.size());
        WrittenRows written;
        {
          pqxx::nontransaction tx{*c.connection};
          auto statement = c.statement(
              std::string{deferred ? "create_tasks deferred" : "create_tasks"}
                  + (direct.empty() ? "" : " " + direct),
              [&] {
                return create_sql(send_with_pgmq, direct, deferred);
              });
          written = read_written(tx.exec_prepared(
              statement, tasks.dump(), steps.dump(), edges.dump(),
              writes.transitions.dump(), writes.messages.dump()));
        }
        state_->note_committed(
            inserted_outbox(writes, &written.tasks, written.outbox));
        if (written.notifications)
          state_->raise_notifications(c, {*written.notifications});
        return std::move(written.tasks);
      });
  if (!inserted && tasks.size() > 1
      && inserted.error().code() != ErrorCode::backend_unavailable) {
    // One task's rows failed the batch (an id taken, say): each alone, so
    // that only that one fails.
    core::log_warn(kComponent, "creating " + std::to_string(tasks.size())
                                   + " tasks in one statement failed ("
                                   + inserted.error().to_string()
                                   + "); creating each alone");
    for (std::size_t i = 0; i < requests.size(); ++i)
      if (laid_out[i])
        outcomes[i] = create_task(requests[i], start);
    return unwrapped(std::move(outcomes));
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!laid_out[i])
      continue;
    if (!inserted) {
      outcomes[i] = inserted.error();
      continue;
    }
    if (inserted->contains(laid_out[i]->snapshot.task.id)) {
      outcomes[i] = std::move(*laid_out[i]);
      continue;
    }
    // Its identity hash is taken: the task that has it is the answer.
    const auto& identity = laid_out[i]->snapshot.task.identity_hash;
    outcomes[i] = state_->run<CreatedTask>(
        "create_task '" + requests[i].name + "'", {}, true,
        [&](PooledConnection& c) -> Result<CreatedTask> {
          pqxx::nontransaction tx{*c.connection};
          auto existing = read_snapshots(tx.exec_prepared(
              c.statement("load_by_identity", identity_sql()), identity));
          if (existing.empty())
            return Error{ErrorCode::backend_error,
                         "task store create_task '" + requests[i].name
                             + "': identity hash " + identity
                             + " is taken, but by no visible task"};
          return CreatedTask{std::move(existing.begin()->second.snapshot),
                             false};
        });
  }
  return unwrapped(std::move(outcomes));
}

core::Result<TaskSnapshot> PgTaskStore::load(const std::string& task_id) {
  if (!is_uuid(task_id))
    return Error{ErrorCode::not_found, task_not_found(task_id)};
  return state_->run<TaskSnapshot>(
      "load of task " + task_id, {}, true,
      [&](PooledConnection& c) -> Result<TaskSnapshot> {
        pqxx::nontransaction tx{*c.connection};
        auto loaded = read_snapshots(
            tx.exec_prepared(c.statement("load_tasks", load_sql()),
                             plain_array(std::vector<std::string>{task_id})));
        if (loaded.empty())
          return Error{ErrorCode::not_found, task_not_found(task_id)};
        return std::move(loaded.begin()->second.snapshot);
      });
}

core::Result<TaskState> PgTaskStore::task_state(const std::string& task_id) {
  if (!is_uuid(task_id))
    return Error{ErrorCode::not_found, task_not_found(task_id)};
  return state_->run<TaskState>(
      "state of task " + task_id, {}, true,
      [&](PooledConnection& c) -> Result<TaskState> {
        pqxx::nontransaction tx{*c.connection};
        auto rows = tx.exec_prepared(
            c.statement("task_state",
                        "SELECT state FROM tasker.tasks WHERE id = $1::uuid"),
            task_id);
        if (rows.empty())
          return Error{ErrorCode::not_found, task_not_found(task_id)};
        auto text = rows[0][0].as<std::string>();
        auto state = parse_task_state(text);
        if (!state)
          return Error{ErrorCode::internal, "task " + task_id
                                                + " has an unknown state '"
                                                + text + "'"};
        return *state;
      });
}

core::Result<TaskSnapshot> PgTaskStore::apply(const ChangeSet& change) {
  if (!is_uuid(change.task_id))
    return Error{ErrorCode::not_found, task_not_found(change.task_id)};
  std::set<std::string> queues;
  for (const auto& message : change.messages)
    queues.insert(message.queue);
  auto queue = queues.size() == 1 ? *queues.begin() : std::string{};
  return state_->run<TaskSnapshot>(
      "apply to task " + change.task_id, queue, false,
      [&](PooledConnection& c) -> Result<TaskSnapshot> {
        return std::move(
            state_->apply_sets(c, std::span<const ChangeSet>{&change, 1}, false)
                .front());
      });
}

std::vector<core::Result<TaskSnapshot>>
PgTaskStore::apply_batch(const std::vector<ChangeSet>& changes) {
  using Results = std::vector<Result<TaskSnapshot>>;
  if (changes.empty())
    return {};
  auto applied = state_->run<Results>(
      "apply_batch", {}, false, [&](PooledConnection& c) -> Result<Results> {
        try {
          return state_->apply_sets(c, changes, false);
        } catch (const pqxx::sql_error& e) {
          if (is_connection_state(e.sqlstate()))
            throw;
        }
        return state_->apply_sets(c, changes, true);
      });
  if (!applied)
    return Results(changes.size(), Result<TaskSnapshot>{applied.error()});
  return std::move(*applied);
}

core::Result<std::vector<TransitionRecord>>
PgTaskStore::history(const std::string& task_id) {
  using Records = std::vector<TransitionRecord>;
  if (!is_uuid(task_id))
    return Error{ErrorCode::not_found, task_not_found(task_id)};
  return state_->run<Records>(
      "history of task " + task_id, {}, true,
      [&](PooledConnection& c) -> Result<Records> {
        pqxx::nontransaction tx{*c.connection};
        Records out;
        for (const auto& row :
             tx.exec_prepared(c.statement("history", kHistorySql), task_id)) {
          Fields f{row};
          TransitionRecord record;
          record.task_id = f.text();
          record.step_id = f.text_or_empty();
          record.from_state = f.text_or_empty();
          record.to_state = f.text();
          record.event = f.text();
          record.metadata = f.document();
          record.at = f.time();
          record.node = f.text();
          out.push_back(std::move(record));
        }
        // Every task has its creation in the history.
        if (out.empty())
          return Error{ErrorCode::not_found, task_not_found(task_id)};
        return out;
      });
}

core::Result<TaskPage> PgTaskStore::list_tasks(const TaskQuery& query) {
  unsigned filters = (query.state ? 1U : 0U) | (query.namespace_name ? 2U : 0U)
                     | (query.name ? 4U : 0U);
  std::optional<std::string> state;
  if (query.state)
    state = std::string{to_string(*query.state)};
  return state_->run<TaskPage>(
      "list_tasks", {}, true, [&](PooledConnection& c) -> Result<TaskPage> {
        pqxx::nontransaction tx{*c.connection};
        TaskPage page;
        for (const auto& row : tx.exec_prepared(
                 c.statement("list_tasks_" + std::to_string(filters),
                             list_sql(filters)),
                 state, query.namespace_name, query.name,
                 std::max(0, query.limit),
                 std::max<int64_t>(0, query.offset))) {
          Fields f{row};
          page.total = f.value<int64_t>();
          if (f.next_is_null())
            continue;
          auto task = read_task(f);
          task.context = f.document();
          page.tasks.push_back(std::move(task));
        }
        return page;
      });
}

// -- outbox -------------------------------------------------------------------

core::Result<std::vector<OutboxEntry>> PgTaskStore::take_outbox(int32_t limit) {
  using Entries = std::vector<OutboxEntry>;
  auto& state = *state_;
  {
    // This store's committed entries, without a round trip, unless the
    // table is due a read.
    std::lock_guard<std::mutex> guard{state.outbox_mutex};
    auto now = SteadyClock::now();
    if (!state.committed_outbox.empty() && state.outbox_read_at
        && now - *state.outbox_read_at < kOutboxReadInterval) {
      Entries out;
      while (!state.committed_outbox.empty()
             && out.size() < static_cast<std::size_t>(std::max(0, limit))) {
        out.push_back(std::move(state.committed_outbox.front()));
        state.committed_outbox.pop_front();
      }
      return out;
    }
  }
  auto read = state_->run<Entries>(
      "take_outbox", {}, true, [&](PooledConnection& c) -> Result<Entries> {
        pqxx::nontransaction tx{*c.connection};
        Entries out;
        for (const auto& row : tx.exec_prepared(
                 c.statement("take_outbox", kOutboxSql), std::max(0, limit))) {
          Fields f{row};
          OutboxEntry entry;
          entry.id = f.value<int64_t>();
          entry.outbound.queue = f.text();
          entry.outbound.message.payload = f.text();
          entry.outbound.message.headers
              = messaging::headers_from_json(f.document());
          entry.outbound.message.delay
              = std::chrono::milliseconds{f.value<int64_t>()};
          entry.created_at = f.time();
          out.push_back(std::move(entry));
        }
        return out;
      });
  if (read) {
    // Entries the read returned are not taken again from memory.
    std::set<int64_t> ids;
    for (const auto& entry : *read)
      ids.insert(entry.id);
    std::lock_guard<std::mutex> guard{state.outbox_mutex};
    state.outbox_read_at = SteadyClock::now();
    std::erase_if(state.committed_outbox, [&](const OutboxEntry& entry) {
      return ids.contains(entry.id);
    });
  }
  return read;
}

bool PgTaskStore::sends_with_outbox() const {
  return !state_->options.send_with_pgmq;
}

core::Result<void> PgTaskStore::remove_outbox(const std::vector<int64_t>& ids) {
  if (ids.empty())
    return {};
  return state_->run<void>(
      "remove_outbox", {}, true, [&](PooledConnection& c) -> Result<void> {
        pqxx::nontransaction tx{*c.connection};
        tx.exec_prepared(c.statement("remove_outbox", kRemoveOutboxSql),
                         plain_array(ids));
        return {};
      });
}

// -- due work -----------------------------------------------------------------

core::Result<std::vector<std::string>> PgTaskStore::due_retries(TimePoint now,
                                                                int32_t limit) {
  using Ids = std::vector<std::string>;
  return state_->run<Ids>(
      "due_retries", {}, true, [&](PooledConnection& c) -> Result<Ids> {
        pqxx::nontransaction tx{*c.connection};
        Ids out;
        for (const auto& row : due_retries_statement(now, limit).run(c, tx))
          out.push_back(row[0].as<std::string>());
        return out;
      });
}

core::Result<std::vector<OverdueStep>>
PgTaskStore::overdue_steps(TimePoint now, std::chrono::seconds grace,
                           int32_t limit) {
  using Steps = std::vector<OverdueStep>;
  return state_->run<Steps>(
      "overdue_steps", {}, true, [&](PooledConnection& c) -> Result<Steps> {
        pqxx::nontransaction tx{*c.connection};
        Steps out;
        for (const auto& row :
             overdue_statement(now, grace, limit).run(c, tx)) {
          Fields f{row};
          OverdueStep step;
          step.task_id = f.text();
          step.step_id = f.text();
          step.attempts = f.value<int32_t>();
          out.push_back(std::move(step));
        }
        return out;
      });
}

core::Result<std::vector<std::string>>
PgTaskStore::stale_tasks(TimePoint now, const StalenessLimits& limits,
                         int32_t limit) {
  using Ids = std::vector<std::string>;
  return state_->run<Ids>(
      "stale_tasks", {}, true, [&](PooledConnection& c) -> Result<Ids> {
        pqxx::nontransaction tx{*c.connection};
        Ids out;
        for (const auto& row : stale_statement(now, limits, limit).run(c, tx))
          out.push_back(row[0].as<std::string>());
        return out;
      });
}

core::Result<std::string>
PgTaskStore::explain_due_work(TimePoint now, std::chrono::seconds grace,
                              const StalenessLimits& limits, int32_t limit) {
  return state_->run<std::string>(
      "explain_due_work", {}, true,
      [&](PooledConnection& c) -> Result<std::string> {
        pqxx::nontransaction tx{*c.connection};
        return "== due_retries ==\n"
               + due_retries_statement(now, limit).explain(c, tx)
               + "\n== overdue_steps ==\n"
               + overdue_statement(now, grace, limit).explain(c, tx)
               + "\n== stale_tasks ==\n"
               + stale_statement(now, limits, limit).explain(c, tx);
      });
}

// -- dead letters -------------------------------------------------------------

namespace {

DeadLetterEntry read_dead_letter(const pqxx::row& row) {
  Fields f{row};
  DeadLetterEntry entry;
  entry.id = f.value<int64_t>();
  entry.task_id = f.text();
  entry.original_state = f.text();
  entry.reason = parse_reason(f.text()).value_or(DeadLetterReason::manual);
  entry.resolution = parse_dead_letter_resolution(f.text()).value_or(
      DeadLetterResolution::pending);
  entry.snapshot = f.document();
  entry.notes = f.text();
  entry.resolved_by = f.text();
  entry.created_at = f.time();
  entry.updated_at = f.time();
  return entry;
}

} // namespace

core::Result<std::vector<DeadLetterEntry>>
PgTaskStore::dead_letters(std::optional<DeadLetterResolution> resolution,
                          int32_t limit) {
  using Entries = std::vector<DeadLetterEntry>;
  std::optional<std::string> filter;
  if (resolution)
    filter = std::string{to_string(*resolution)};
  return state_->run<Entries>(
      "dead_letters", {}, true, [&](PooledConnection& c) -> Result<Entries> {
        pqxx::nontransaction tx{*c.connection};
        Entries out;
        for (const auto& row : tx.exec_prepared(
                 c.statement(filter ? "dead_letters_of" : "dead_letters",
                             dead_letters_sql(filter.has_value())),
                 filter, std::max(0, limit)))
          out.push_back(read_dead_letter(row));
        return out;
      });
}

core::Result<DeadLetterEntry>
PgTaskStore::resolve_dead_letter(int64_t id, DeadLetterResolution resolution,
                                 const std::string& notes,
                                 const std::string& by) {
  return state_->run<DeadLetterEntry>(
      "resolve_dead_letter " + std::to_string(id), {}, false,
      [&](PooledConnection& c) -> Result<DeadLetterEntry> {
        pqxx::nontransaction tx{*c.connection};
        auto rows = tx.exec_prepared(
            c.statement("resolve_dead_letter", resolve_sql()), id,
            std::string{to_string(resolution)}, notes, by, to_us(Clock::now()));
        if (rows.empty())
          return Error{ErrorCode::not_found, "dead-letter entry "
                                                 + std::to_string(id)
                                                 + " does not exist"};
        return read_dead_letter(rows[0]);
      });
}

} // namespace tasker::orchestration
