#include "messaging/pgmq/pgmq_provider.hpp"

#include "messaging/provider_checks.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "messaging/pgmq/pg_connection_pool.hpp"
#include "messaging/pgmq/pg_errors.hpp"
#include "messaging/pgmq/pgmq_listener.hpp"
#include "messaging/pgmq/pgmq_schema.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace tasker::messaging {

namespace {

using core::Error;
using core::ErrorCode;
using core::Result;

constexpr std::string_view kComponent = "pgmq";
constexpr std::string_view kMaxDeliveriesReason = "max_deliveries_exceeded";
constexpr std::string_view kDeadlockDetected = "40P01";
/// Tries of a queue creation that PostgreSQL rolled back for a deadlock.
constexpr int kCreateAttempts = 3;
// -- SQL values ---------------------------------------------------------------

// A PostgreSQL array literal of quoted elements ("{"a","b\"c",NULL}").
std::string text_array(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1)
      out += ',';
    if (!item) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *item) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

template <class Number>
std::string number_array(const std::vector<Number>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1)
      out += ',';
    out += std::to_string(item);
  }
  return out + "}";
}

// A PostgreSQL array literal of booleans ("{t,f}").
std::string boolean_array(const std::vector<bool>& items) {
  std::string out = "{";
  for (bool item : items) {
    if (out.size() > 1)
      out += ',';
    out += item ? 't' : 'f';
  }
  return out + "}";
}

std::vector<int64_t> parse_bigint_array(std::string_view text) {
  std::vector<int64_t> out;
  text.remove_prefix(std::min<std::size_t>(1, text.size()));
  while (!text.empty() && text.front() != '}') {
    auto end = text.find_first_of(",}");
    out.push_back(std::stoll(std::string{text.substr(0, end)}));
    text.remove_prefix(std::min(text.size(), end + 1));
  }
  return out;
}

std::optional<std::string> headers_json(const Headers& headers) {
  if (headers.empty())
    return std::nullopt;
  return nlohmann::json(headers).dump();
}

Clock::time_point from_micros(int64_t us) {
  return Clock::time_point{std::chrono::duration_cast<Clock::duration>(
      std::chrono::microseconds{us})};
}

QueuedMessage message_from_row(const std::string& queue, const pqxx::row& r) {
  QueuedMessage m;
  m.queue = queue;
  m.id = r[0].as<int64_t>();
  m.delivery_count = r[1].as<int32_t>();
  m.enqueued_at = from_micros(r[2].as<int64_t>());
  m.visible_at = from_micros(r[3].as<int64_t>());
  m.leased = true;
  m.payload = r[4].is_null() ? "null" : r[4].as<std::string>();
  if (!r[5].is_null())
    m.headers = headers_from_json(
        nlohmann::json::parse(r[5].as<std::string>(), nullptr, false));
  return m;
}

// -- hot-path statements, one set per queue table
// ------------------------------
//
// Plain SQL on pgmq.q_<queue> rather than the PL/pgSQL functions, which
// cost about twice as much per call. Queue names are validated ([a-z0-9_])
// before they get here, so `expand` splices them in as identifiers and
// literals: {queue}, {dlq}, {namespace}, {channel}.

// pg_notify rejects payloads of 8000 bytes or more.
constexpr std::string_view kNotifyPayloadLimit = "7900";

// $1 payload, $2 headers (NULL for none), $3 delay in ms, $4 whether the
// payload may travel inline. Inserts the message and notifies its
// namespace's channel in the same statement, so the notification exists
// iff the message commits. Returns the id. {before}: CTEs run with it.
constexpr std::string_view kSendSql = R"sql(
WITH {before}t AS (SELECT clock_timestamp() AS now),
m AS (
  INSERT INTO pgmq.q_{queue} (enqueued_at, vt, message, headers)
  SELECT t.now, t.now + $3::bigint * interval '1 millisecond',
         $1::jsonb, $2::jsonb
  FROM t
  RETURNING msg_id, read_ct, enqueued_at, vt, message, headers),
n AS (
  SELECT m.msg_id, m.message, m.headers,
         jsonb_build_object('queue_name', '{queue}', 'namespace', '{namespace}',
                            'msg_id', m.msg_id, 'read_ct', m.read_ct,
                            'enqueued_at', m.enqueued_at, 'ready_at', m.vt,
                            'delay_seconds', $3::bigint / 1000) AS base
  FROM m),
p AS (
  SELECT n.msg_id,
         CASE WHEN $4::boolean THEN (n.base || jsonb_build_object(
           'event_type', 'message_with_payload', 'message', n.message,
           'headers', coalesce(n.headers, '{}'::jsonb)))::text END AS full,
         (n.base || jsonb_build_object('event_type', 'message_ready',
                                       'payload_omitted', true))::text AS signal
  FROM n)
SELECT p.msg_id,
       pg_notify('{channel}', CASE WHEN octet_length(p.full) <= {limit}
                                   THEN p.full ELSE p.signal END)
FROM p)sql";

// Batches of at most this many messages are announced message by message,
// each notification carrying its message when small, as single sends are:
// a consumer takes them from the notifications instead of claiming them in
// a poll (a claim updates each row, ~4.5 WAL records a message, and adds a
// round trip before the work). Larger batches are announced once.
constexpr std::size_t kAnnouncedOneByOne = 64;

// The start of a batch send: $1 payloads, $2 headers, $3 delays in ms
// (arrays in input order) inserted as `m`, ids drawn in that order.
constexpr std::string_view kInsertBatchSql = R"sql(
WITH {before}t AS (SELECT clock_timestamp() AS now),
m AS (
  INSERT INTO pgmq.q_{queue} (enqueued_at, vt, message, headers)
  SELECT t.now, t.now + b.delay_ms * interval '1 millisecond', b.msg, b.hdr
  FROM t, unnest($1::jsonb[], $2::jsonb[], $3::bigint[])
            WITH ORDINALITY AS b(msg, hdr, delay_ms, pos)
  ORDER BY b.pos
  RETURNING msg_id, read_ct, enqueued_at, vt, message, headers),)sql";

// `kInsertBatchSql`, then one notification per message, as `kSendSql`
// raises, in id order (a volatile function in the select list runs after
// the sort); $4: whether each payload may travel inline, in input order.
// Returns each id in an array of its own.
const std::string kSendEachSql = std::string{kInsertBatchSql} + R"sql(
n AS (
  SELECT m.msg_id, m.message, m.headers, f.inline,
         jsonb_build_object('queue_name', '{queue}', 'namespace', '{namespace}',
                            'msg_id', m.msg_id, 'read_ct', m.read_ct,
                            'enqueued_at', m.enqueued_at, 'ready_at', m.vt,
                            'delay_seconds', floor(extract(
                              epoch FROM m.vt - m.enqueued_at))::bigint)
           AS base
  FROM (SELECT m.*, row_number() OVER (ORDER BY m.msg_id) AS pos FROM m) m
  JOIN unnest($4::boolean[]) WITH ORDINALITY AS f(inline, pos) USING (pos)),
p AS (
  SELECT n.msg_id, n.base,
         CASE WHEN n.inline THEN (n.base || jsonb_build_object(
           'event_type', 'message_with_payload', 'message', n.message,
           'headers', coalesce(n.headers, '{}'::jsonb)))::text END AS full
  FROM n)
SELECT ARRAY[p.msg_id],
       pg_notify('{channel}', CASE WHEN octet_length(p.full) <= {limit}
         THEN p.full
         ELSE (p.base || jsonb_build_object('event_type', 'message_ready',
                                            'payload_omitted', true))::text
         END)
FROM p ORDER BY p.msg_id)sql";

// `kInsertBatchSql`, then (batches over `kAnnouncedOneByOne`) one
// `batch_ready` notification per distinct delay, with its ids when they fit.
// Returns the ids, one row per delay.
const std::string kSendBatchSql = std::string{kInsertBatchSql} + R"sql(
g AS (
  SELECT array_agg(m.msg_id ORDER BY m.msg_id) AS ids,
         jsonb_build_object('event_type', 'batch_ready',
                            'queue_name', '{queue}', 'namespace', '{namespace}',
                            'message_count', count(*),
                            'enqueued_at', min(m.enqueued_at),
                            'ready_at', m.vt,
                            'delay_seconds', floor(extract(
                              epoch FROM m.vt - min(m.enqueued_at)))::bigint)
           AS base
  FROM m GROUP BY m.vt),
p AS (
  SELECT g.ids, g.base::text AS short,
         (g.base || jsonb_build_object('msg_ids', g.ids))::text AS full
  FROM g)
SELECT p.ids,
       pg_notify('{channel}', CASE WHEN octet_length(p.full) <= {limit}
                                   THEN p.full ELSE p.short END)
FROM p)sql";

// Claims, acks and lease extensions commit without waiting for the WAL
// flush ({lazy_commit}: synchronous_commit off for their own transaction).
// Losing one in a server crash only makes a message visible again, which
// at-least-once delivery and the state guards handle; sends that ack nothing
// and dead-letter moves, which must not be lost, still wait for the flush.
// Saves an fsync
// (~0.3 ms) per claim and per ack.
constexpr std::string_view kLazyCommit
    = "(SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL";

// The {before} CTE of a send that acks: deletes the answered messages of
// `acked_queue` (ids matching `ids`) and commits lazily. The result and the
// ack commit or vanish together, so a crash that loses the transaction
// makes the step message visible again and the step runs again, which
// at-least-once delivery allows; and the orchestration's durable decision
// on the result flushes the WAL up to it first, so no state change ever
// rests on a result that a crash could take back. Saves an fsync per step.
std::string acked_cte(const std::string& acked_queue, std::string_view ids) {
  return "acked AS (DELETE FROM pgmq.q_" + acked_queue + " WHERE msg_id "
         + std::string{ids} + " AND " + std::string{kLazyCommit} + "), ";
}

// Which messages a claim takes: {pick} in the claim statements.
constexpr std::string_view kPickOldest
    = "WHERE vt <= clock_timestamp() ORDER BY msg_id LIMIT $1";
constexpr std::string_view kPickById
    = "WHERE msg_id = $1 AND vt <= clock_timestamp()";
// By key lookups only: a pick of the oldest walks the index from its start,
// past every message deleted or claimed since the last vacuum that some
// transaction may still see (not yet removable) and past those other claims
// hold locked, so under load it read ~700 buffers to lease ~6 messages.
constexpr std::string_view kPickByIds
    = "WHERE msg_id = ANY($1::bigint[]) AND vt <= clock_timestamp() ORDER BY "
      "msg_id";

// Claims visible messages like pgmq.read: $1 limit or id, $2 visibility
// timeout in seconds. Those already delivered $3 (max deliveries) times are
// left as they are and flagged in the last column, for `kDeadLetterSql`.
// (A top-level UPDATE: the same work with the move in data-modifying CTEs
// ran at half the speed.) The update finds its rows by key lookups
// (`ANY(ARRAY(...))`): joined only to `picked`, generic and custom plans
// alike walked the whole primary key once per claim while the statistics
// called the queue (nearly) empty, 480-680 buffers under load, halving
// throughput.
constexpr std::string_view kClaimSql = R"sql(
WITH picked AS (
  SELECT msg_id, read_ct FROM pgmq.q_{queue} {pick} FOR UPDATE SKIP LOCKED)
UPDATE pgmq.q_{queue} q
SET vt = CASE WHEN p.read_ct < $3::int
              THEN clock_timestamp() + $2::bigint * interval '1 second'
              ELSE q.vt END,
    read_ct = CASE WHEN p.read_ct < $3::int THEN q.read_ct + 1
                   ELSE q.read_ct END,
    last_read_at = CASE WHEN p.read_ct < $3::int THEN clock_timestamp()
                        ELSE q.last_read_at END
FROM picked p
WHERE q.msg_id = ANY(ARRAY(SELECT msg_id FROM picked))
  AND q.msg_id = p.msg_id AND {lazy_commit}
RETURNING {columns}, p.read_ct >= $3::int)sql";

// Columns of a claimed message ({columns}), read by `message_from_row`.
constexpr std::string_view kMessageColumns
    = "q.msg_id, q.read_ct, "
      "(extract(epoch FROM q.enqueued_at) * 1000000)::bigint, "
      "(extract(epoch FROM q.vt) * 1000000)::bigint, "
      "q.message::text, q.headers::text";

// $1 ids, $2 reason, $3 least delivery count. One statement: the messages
// leave the queue and enter the dead-letter queue atomically, as fresh
// messages. Returns their new ids.
constexpr std::string_view kDeadLetterSql = R"sql(
WITH d AS (
  DELETE FROM pgmq.q_{queue}
  WHERE msg_id = ANY($1::bigint[]) AND read_ct >= $3::int
  RETURNING msg_id, message, headers)
INSERT INTO pgmq.q_{dlq} (enqueued_at, vt, message, headers)
SELECT clock_timestamp(), clock_timestamp(), d.message,
       coalesce(d.headers, '{}'::jsonb) || jsonb_build_object(
         'x-dead-letter-reason', $2::text, 'x-original-queue', '{queue}',
         'x-original-id', d.msg_id::text)
FROM d ORDER BY d.msg_id
RETURNING msg_id)sql";

constexpr std::string_view kAckSql
    = "DELETE FROM pgmq.q_{queue} WHERE msg_id = $1 AND {lazy_commit}";

constexpr std::string_view kAckBatchSql = "DELETE FROM pgmq.q_{queue} WHERE "
                                          "msg_id = ANY($1::bigint[]) AND "
                                          "{lazy_commit}";

// $1 id, $2 delay in ms.
constexpr std::string_view kRequeueSql
    = "UPDATE pgmq.q_{queue} SET vt = clock_timestamp() + $2::bigint * "
      "interval '1 millisecond' WHERE msg_id = $1";

// $1 id, $2 seconds.
constexpr std::string_view kExtendSql
    = "UPDATE pgmq.q_{queue} SET vt = clock_timestamp() + $2::bigint * "
      "interval '1 second' WHERE msg_id = $1 AND {lazy_commit}";

constexpr std::string_view kMetricsSql = R"sql(
SELECT count(*), count(*) FILTER (WHERE vt <= clock_timestamp()),
       floor(extract(epoch FROM clock_timestamp() - min(enqueued_at)))::bigint,
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
        FROM pgmq.q_{queue}_msg_id_seq)
FROM pgmq.q_{queue})sql";

// Returns `sql` with the placeholders filled in for `queue` (and `pick`).
std::string expand(std::string_view sql, const std::string& queue,
                   std::string_view pick, std::string_view before = {}) {
  const std::pair<std::string_view, std::string> values[]
      = {{"{queue}", queue},
         {"{dlq}", config::dead_letter_queue_name(queue)},
         {"{namespace}", notify_namespace(queue)},
         {"{channel}", notify_channel(queue)},
         {"{limit}", std::string{kNotifyPayloadLimit}},
         {"{columns}", std::string{kMessageColumns}},
         {"{pick}", std::string{pick}},
         {"{before}", std::string{before}},
         {"{lazy_commit}", std::string{kLazyCommit}}};
  std::string out;
  for (std::size_t pos = 0; pos < sql.size();) {
    auto brace = sql.find('{', pos);
    out += sql.substr(pos, brace - pos);
    if (brace == std::string_view::npos)
      break;
    auto match = std::find_if(std::begin(values), std::end(values),
                              [&](const auto& v) {
                                return sql.substr(brace).starts_with(v.first);
                              });
    if (match == std::end(values)) {
      out += '{';
      pos = brace + 1;
    } else {
      out += match->second;
      pos = brace + match->first.size();
    }
  }
  return out;
}

// Returns the name of the statement `<kind>_<queue>`, preparing `sql`
// (expanded for the queue) on `c` first if needed.
std::string queue_statement(PooledConnection& c, std::string_view kind,
                            const std::string& queue, std::string_view sql,
                            std::string_view pick = {}) {
  return c.statement(std::string{kind} + "_" + queue, [&] {
    return expand(sql, queue, pick);
  });
}

// Moves the messages `ids` delivered at least `least_deliveries` times to
// the dead-letter queue; returns how many it moved.
std::size_t dead_letter(PooledConnection& c, const std::string& queue,
                        const std::vector<int64_t>& ids,
                        const std::string& reason, int32_t least_deliveries) {
  pqxx::nontransaction tx{*c.connection};
  return tx
      .exec_prepared(queue_statement(c, "dead_letter", queue, kDeadLetterSql),
                     number_array(ids), reason, least_deliveries)
      .affected_rows();
}

// Claimed messages come back in no particular order.
void sort_by_id(std::vector<QueuedMessage>& messages) {
  std::sort(messages.begin(), messages.end(), [](const auto& a, const auto& b) {
    return a.id < b.id;
  });
}

/// What one claim did.
struct Claimed {
  /// The messages it leased.
  std::vector<QueuedMessage> leased;
  /// Visible messages it found delivered too often, now dead-lettered.
  std::size_t dead_lettered = 0;
};

// Claims with the statement `<kind>_<queue>` for `target` (a limit, an id
// or an array of ids, as `pick` says, as text), then dead-letters what it
// found delivered too often.
Claimed claim(PooledConnection& c, std::string_view kind,
              const std::string& queue, std::string_view pick,
              const std::string& target,
              std::chrono::seconds visibility_timeout, int32_t max_deliveries) {
  // A dead-letter queue has none of its own: its messages stay.
  if (is_dead_letter_queue(queue))
    max_deliveries = std::numeric_limits<int32_t>::max();
  Claimed claimed;
  std::vector<int64_t> worn_out;
  {
    pqxx::nontransaction tx{*c.connection};
    for (const auto& row : tx.exec_prepared(
             queue_statement(c, kind, queue, kClaimSql, pick), target,
             static_cast<int64_t>(visibility_timeout.count()),
             max_deliveries)) {
      if (row[6].as<bool>())
        worn_out.push_back(row[0].as<int64_t>());
      else
        claimed.leased.push_back(message_from_row(queue, row));
    }
  }
  if (!worn_out.empty()) {
    dead_letter(c, queue, worn_out, std::string{kMaxDeliveriesReason},
                max_deliveries);
    claimed.dead_lettered = worn_out.size();
  }
  return claimed;
}

/// Whether an operation may run again after its connection broke.
enum class Retry {
  /// Running it twice is harmless: retry once on a fresh connection.
  safe,
  /// It must not run twice (send): retry only when the connection was
  /// found dead before anything was sent.
  unsafe,
};

/// What an operation knows about its attempt.
struct Attempt {
  /// An earlier attempt lost its connection after sending: its effect may
  /// already be there (an ack finding nothing to delete is then fine).
  bool after_loss = false;
};

std::string queue_list(const std::vector<std::string>& queues) {
  std::string out;
  for (const auto& q : queues)
    out += (out.empty() ? "'" : ", '") + q + "'";
  return out;
}

Result<void> validate(const std::string& queue) {
  return config::validate_queue_name(queue);
}

// The checks of a claim by id before any I/O.
Result<void> validate_claim(std::string_view operation,
                            const std::string& queue,
                            std::chrono::seconds visibility_timeout) {
  if (auto ok = validate(queue); !ok)
    return ok;
  if (visibility_timeout.count() < 0)
    return Error{ErrorCode::invalid_argument,
                 "pgmq " + std::string{operation} + " on queue '" + queue
                     + "': the visibility timeout must be 0 or more"};
  return {};
}

// The queue and, unless it is one, its dead-letter queue.
Result<std::vector<std::string>> with_dead_letter(const std::string& queue) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  std::vector<std::string> names{queue};
  if (!is_dead_letter_queue(queue)) {
    auto dlq = config::dead_letter_queue_name(queue);
    if (auto ok = validate(dlq); !ok)
      return Error{ErrorCode::invalid_argument,
                   "queue '" + queue + "' cannot have a dead-letter queue: "
                       + ok.error().message()};
    names.push_back(std::move(dlq));
  }
  return names;
}

Error not_found(std::string_view operation, const std::string& queue,
                int64_t id) {
  return Error{ErrorCode::message_not_found,
               "pgmq " + std::string{operation} + " on queue '" + queue
                   + "': message " + std::to_string(id) + " does not exist"};
}

} // namespace

// -- state --------------------------------------------------------------------

struct PgmqProvider::State {
  State(PgmqOptions opts, std::string info)
      : options(std::move(opts)), conninfo(std::move(info)),
        pool(conninfo, static_cast<std::size_t>(options.pool_size),
             Planning::by_key) {}

  PgmqOptions options;
  std::string conninfo;
  ConnectionPool pool;
  std::mutex listener_mutex;
  std::shared_ptr<PgmqListener> listener;

  /// Runs `body(PooledConnection&, const Attempt&) -> Result<T>` on a pooled
  /// connection, translating exceptions once, here; retries per `retry`.
  template <class T, class Body>
  Result<T> run(std::string_view operation, const std::string& queue,
                Retry retry, Body&& body) {
    Attempt attempt;
    for (;;) {
      std::optional<ConnectionLease> lease;
      try {
        lease.emplace(pool.acquire());
        return body(**lease, attempt);
      } catch (const pqxx::broken_connection&) {
        auto error = current_pg_error(operation, queue);
        if (lease)
          lease->discard();
        else
          return error;
        if (retry == Retry::safe && !attempt.after_loss) {
          attempt.after_loss = true;
          continue;
        }
        if (retry == Retry::unsafe)
          return Error{
              error.code(),
              error.message()
                  + " (the outcome is unknown: it may have been stored)"};
        return error;
      } catch (...) {
        auto error = current_pg_error(operation, queue);
        if (lease)
          lease->discard_if_closed();
        return error;
      }
    }
  }

  std::shared_ptr<PgmqListener> ensure_listener() {
    std::lock_guard<std::mutex> guard{listener_mutex};
    if (!listener)
      listener = std::make_shared<PgmqListener>(PgmqListenerOptions{
          conninfo, std::chrono::milliseconds{100},
          std::chrono::milliseconds{5000},
          std::chrono::duration_cast<std::chrono::milliseconds>(
              options.connect_timeout)});
    return listener;
  }
};

PgmqProvider::PgmqProvider(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

// -- connect ------------------------------------------------------------------

core::Result<PgmqProvider> PgmqProvider::connect(PgmqOptions options) {
  auto first = open_first_connection(
      "pgmq", options.url, options.connect_timeout, options.connect_retries,
      options.pool_size, kComponent, current_pg_error, Planning::by_key);
  if (!first)
    return first.error();
  auto& [conninfo, endpoint, connection] = *first;
  auto mode = install_or_verify_pgmq_schema(*connection);
  if (!mode)
    return Error{mode.error().code(),
                 mode.error().message() + " (PostgreSQL at " + endpoint + ")"};
  core::log_info(kComponent, "connected to PostgreSQL at " + endpoint + " ("
                                 + (*mode == PgmqSchemaMode::extension
                                        ? "pgmq extension"
                                        : "own PGMQ-compatible schema")
                                 + ")");
  auto state = std::make_shared<State>(std::move(options), std::move(conninfo));
  state->pool.adopt(std::move(connection));
  return PgmqProvider{std::move(state)};
}

// -- queue lifecycle ----------------------------------------------------------

core::Result<void> PgmqProvider::create_queue(const std::string& queue) {
  return ensure_queues({queue});
}

core::Result<void> PgmqProvider::delete_queue(const std::string& queue) {
  auto names = with_dead_letter(queue);
  if (!names)
    return names.error();
  return state_->run<void>(
      "delete_queue", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt& attempt) -> Result<void> {
        pqxx::work tx{*c.connection};
        bool dropped = false;
        for (const auto& name : *names) {
          auto r = tx.exec_params1("SELECT pgmq.drop_queue($1)", name);
          if (name == queue)
            dropped = r[0].as<bool>();
          if (!dropped)
            break;
        }
        if (!dropped && !attempt.after_loss)
          return Error{ErrorCode::queue_not_found, "pgmq delete_queue: queue '"
                                                       + queue
                                                       + "' does not exist"};
        tx.commit();
        return {};
      });
}

core::Result<bool> PgmqProvider::queue_exists(const std::string& queue) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  return state_->run<bool>(
      "queue_exists", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt&) -> Result<bool> {
        pqxx::nontransaction tx{*c.connection};
        return tx
            .exec_params1(
                "SELECT EXISTS (SELECT 1 FROM pgmq.meta WHERE queue_name = $1)",
                queue)[0]
            .as<bool>();
      });
}

core::Result<std::vector<std::string>> PgmqProvider::list_queues() {
  return state_->run<std::vector<std::string>>(
      "list_queues", {}, Retry::safe,
      [&](PooledConnection& c,
          const Attempt&) -> Result<std::vector<std::string>> {
        pqxx::nontransaction tx{*c.connection};
        std::vector<std::string> names;
        for (const auto& row : tx.exec("SELECT queue_name FROM pgmq.meta"))
          names.push_back(row[0].as<std::string>());
        std::sort(names.begin(), names.end());
        return names;
      });
}

core::Result<void>
PgmqProvider::ensure_queues(const std::vector<std::string>& queues) {
  std::set<std::string> names;
  for (const auto& queue : queues) {
    auto with_dlq = with_dead_letter(queue);
    if (!with_dlq)
      return with_dlq.error();
    names.insert(with_dlq->begin(), with_dlq->end());
  }
  if (names.empty())
    return {};
  std::vector<std::optional<std::string>> items(names.begin(), names.end());
  auto subject = queues.size() == 1 ? queues.front() : std::string{};
  // One statement, so one transaction; queues in name order, so concurrent
  // callers take PGMQ's per-queue locks in the same order. Existing queues
  // are left alone: `pgmq.create` of one takes a share lock on its table
  // (CREATE INDEX IF NOT EXISTS), which waits for the nodes writing to it
  // and deadlocked with a running node's decision write.
  return state_->run<void>(
      "create_queue", subject, Retry::safe,
      [&](PooledConnection& c, const Attempt&) -> Result<void> {
        for (int attempt = 1;; ++attempt) {
          try {
            pqxx::nontransaction tx{*c.connection};
            tx.exec_params(
                "SELECT pgmq.create(s.name) FROM (SELECT unnest($1::text[]) "
                "AS name ORDER BY 1) s WHERE NOT EXISTS (SELECT 1 FROM "
                "pgmq.meta m WHERE m.queue_name = s.name)",
                text_array(items));
            return {};
          } catch (const pqxx::sql_error& e) {
            // Nodes creating the same new queue at once can still deadlock
            // on the catalog; PostgreSQL rolled this one back whole.
            if (e.sqlstate() != kDeadlockDetected || attempt == kCreateAttempts)
              throw;
          }
        }
      });
}

core::Result<QueueHealthReport>
PgmqProvider::verify_queues(const std::vector<std::string>& queues) {
  QueueHealthReport report;
  std::vector<std::string> checked;
  std::set<std::string> seen;
  for (const auto& queue : queues) {
    auto names = with_dead_letter(queue);
    if (!names) {
      report.errors.emplace_back(queue, names.error().message());
      continue;
    }
    for (auto& name : *names)
      if (seen.insert(name).second)
        checked.push_back(std::move(name));
  }
  if (checked.empty())
    return report;
  std::vector<std::optional<std::string>> items(checked.begin(), checked.end());
  auto found = state_->run<std::set<std::string>>(
      "verify_queues", {}, Retry::safe,
      [&](PooledConnection& c,
          const Attempt&) -> Result<std::set<std::string>> {
        pqxx::nontransaction tx{*c.connection};
        std::set<std::string> present;
        for (const auto& row :
             tx.exec_params("SELECT n FROM unnest($1::text[]) AS n "
                            "WHERE EXISTS (SELECT 1 FROM pgmq.meta m WHERE "
                            "m.queue_name = n) "
                            "AND to_regclass('pgmq.q_' || n) IS NOT NULL",
                            text_array(items)))
          present.insert(row[0].as<std::string>());
        return present;
      });
  for (const auto& name : checked) {
    if (!found)
      report.errors.emplace_back(name, found.error().message());
    else if (found->count(name) != 0)
      report.healthy.push_back(name);
    else
      report.missing.push_back(name);
  }
  return report;
}

// -- messages -----------------------------------------------------------------

core::Result<int64_t> PgmqProvider::send(const std::string& queue,
                                         const OutgoingMessage& message) {
  return send_one(queue, message, nullptr, 0);
}

core::Result<int64_t> PgmqProvider::send_and_ack(const std::string& queue,
                                                 const OutgoingMessage& message,
                                                 const std::string& acked_queue,
                                                 int64_t acked_id) {
  if (auto ok = validate(acked_queue); !ok)
    return ok.error();
  return send_one(queue, message, &acked_queue, acked_id);
}

core::Result<int64_t> PgmqProvider::send_one(const std::string& queue,
                                             const OutgoingMessage& message,
                                             const std::string* acked_queue,
                                             int64_t acked_id) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  const auto& options = state_->options;
  if (auto fits = check_size(queue, message, options.max_message_size); !fits)
    return fits.error();
  auto headers = headers_json(message.headers);
  auto delay_ms = std::max<int64_t>(0, message.delay.count());
  bool may_inline = message.payload.size() < options.inline_payload_limit;
  return state_->run<int64_t>(
      acked_queue ? "send_and_ack" : "send", queue, Retry::unsafe,
      [&](PooledConnection& c, const Attempt&) -> Result<int64_t> {
        pqxx::nontransaction tx{*c.connection};
        if (!acked_queue)
          return tx
              .exec_prepared1(queue_statement(c, "send", queue, kSendSql),
                              message.payload, headers, delay_ms, may_inline)[0]
              .as<int64_t>();
        auto name
            = c.statement("send_and_ack_" + queue + "_" + *acked_queue, [&] {
                return expand(kSendSql, queue, {},
                              acked_cte(*acked_queue, "= $5::bigint"));
              });
        return tx
            .exec_prepared1(name, message.payload, headers, delay_ms,
                            may_inline, acked_id)[0]
            .as<int64_t>();
      });
}

core::Result<std::vector<int64_t>>
PgmqProvider::send_batch(const std::string& queue,
                         const std::vector<OutgoingMessage>& messages) {
  return send_many(queue, messages, nullptr, {});
}

core::Result<std::vector<int64_t>> PgmqProvider::send_and_ack_batch(
    const std::string& queue, const std::vector<OutgoingMessage>& messages,
    const std::string& acked_queue, const std::vector<int64_t>& acked_ids) {
  if (auto ok = validate(acked_queue); !ok)
    return ok.error();
  return send_many(queue, messages, &acked_queue, acked_ids);
}

core::Result<std::vector<int64_t>> PgmqProvider::send_many(
    const std::string& queue, const std::vector<OutgoingMessage>& messages,
    const std::string* acked_queue, const std::vector<int64_t>& acked_ids) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  if (messages.empty())
    return Error{ErrorCode::invalid_argument,
                 "pgmq send_batch on queue '" + queue + "': empty batch"};
  const auto& options = state_->options;
  std::vector<std::optional<std::string>> payloads;
  std::vector<std::optional<std::string>> headers;
  std::vector<int64_t> delays;
  std::vector<bool> inline_payloads;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (auto fits = check_size(queue, m, options.max_message_size); !fits)
      return fits.error();
    payloads.emplace_back(m.payload);
    headers.push_back(headers_json(m.headers));
    delays.push_back(std::max<int64_t>(0, m.delay.count()));
    inline_payloads.push_back(m.payload.size() < options.inline_payload_limit);
  }
  auto payload_array = text_array(payloads);
  auto header_array = text_array(headers);
  auto delay_array = number_array(delays);
  bool one_by_one = messages.size() <= kAnnouncedOneByOne;
  auto inline_array = boolean_array(inline_payloads);
  auto acked_array = number_array(acked_ids);
  auto kind = std::string{one_by_one ? "send_each" : "send_batch"};
  auto acked_ids_parameter
      = one_by_one ? "= ANY($5::bigint[])" : "= ANY($4::bigint[])";
  return state_->run<std::vector<int64_t>>(
      acked_queue ? "send_and_ack_batch" : "send_batch", queue, Retry::unsafe,
      [&](PooledConnection& c, const Attempt&) -> Result<std::vector<int64_t>> {
        pqxx::nontransaction tx{*c.connection};
        const auto& sql = one_by_one ? kSendEachSql : kSendBatchSql;
        auto name
            = acked_queue ? c.statement(
                  kind + "_and_ack_" + queue + "_" + *acked_queue,
                  [&] {
                    return expand(sql, queue, {},
                                  acked_cte(*acked_queue, acked_ids_parameter));
                  })
                          : queue_statement(c, kind, queue, sql);
        auto exec = [&](const auto&... tail) {
          return tx.exec_prepared(name, payload_array, header_array,
                                  delay_array, tail...);
        };
        pqxx::result rows;
        if (one_by_one)
          rows = acked_queue ? exec(inline_array, acked_array)
                             : exec(inline_array);
        else
          rows = acked_queue ? exec(acked_array) : exec();
        std::vector<int64_t> ids;
        for (const auto& row : rows) {
          auto group = parse_bigint_array(row[0].as<std::string>());
          ids.insert(ids.end(), group.begin(), group.end());
        }
        std::sort(ids.begin(), ids.end());
        return ids;
      });
}

core::Result<std::vector<QueuedMessage>>
PgmqProvider::receive(const std::string& queue, int32_t limit,
                      std::chrono::seconds visibility_timeout) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  if (limit < 1 || visibility_timeout.count() < 0)
    return Error{ErrorCode::invalid_argument,
                 "pgmq receive on queue '" + queue
                     + "': limit must be at least 1 and the visibility timeout "
                       "0 or more (got "
                     + std::to_string(limit) + ", "
                     + std::to_string(visibility_timeout.count()) + " s)"};
  auto max_deliveries = state_->options.max_deliveries;
  return state_->run<std::vector<QueuedMessage>>(
      "receive", queue, Retry::safe,
      [&](PooledConnection& c,
          const Attempt&) -> Result<std::vector<QueuedMessage>> {
        std::vector<QueuedMessage> out;
        // Dead-lettered candidates leave room: claim again for the rest.
        for (;;) {
          auto claimed
              = claim(c, "receive", queue, kPickOldest,
                      std::to_string(limit - static_cast<int64_t>(out.size())),
                      visibility_timeout, max_deliveries);
          std::move(claimed.leased.begin(), claimed.leased.end(),
                    std::back_inserter(out));
          if (claimed.dead_lettered == 0
              || out.size() >= static_cast<std::size_t>(limit))
            break;
        }
        sort_by_id(out);
        return out;
      });
}

core::Result<std::optional<QueuedMessage>>
PgmqProvider::read_by_id(const std::string& queue, int64_t id,
                         std::chrono::seconds visibility_timeout) {
  if (auto ok = validate_claim("read_by_id", queue, visibility_timeout); !ok)
    return ok.error();
  auto max_deliveries = state_->options.max_deliveries;
  return state_->run<std::optional<QueuedMessage>>(
      "read_by_id", queue, Retry::safe,
      [&](PooledConnection& c,
          const Attempt&) -> Result<std::optional<QueuedMessage>> {
        auto claimed
            = claim(c, "read_by_id", queue, kPickById, std::to_string(id),
                    visibility_timeout, max_deliveries);
        if (!claimed.leased.empty())
          return std::optional<QueuedMessage>{std::move(claimed.leased[0])};
        return std::optional<QueuedMessage>{};
      });
}

core::Result<std::vector<QueuedMessage>>
PgmqProvider::read_by_ids(const std::string& queue,
                          const std::vector<int64_t>& ids,
                          std::chrono::seconds visibility_timeout) {
  if (auto ok = validate_claim("read_by_ids", queue, visibility_timeout); !ok)
    return ok.error();
  if (ids.empty())
    return std::vector<QueuedMessage>{};
  auto max_deliveries = state_->options.max_deliveries;
  auto id_array = number_array(ids);
  return state_->run<std::vector<QueuedMessage>>(
      "read_by_ids", queue, Retry::safe,
      [&](PooledConnection& c,
          const Attempt&) -> Result<std::vector<QueuedMessage>> {
        auto claimed = claim(c, "read_by_ids", queue, kPickByIds, id_array,
                             visibility_timeout, max_deliveries);
        sort_by_id(claimed.leased);
        return std::move(claimed.leased);
      });
}

core::Result<void> PgmqProvider::ack(const std::string& queue, int64_t id) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  return state_->run<void>(
      "ack", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt& attempt) -> Result<void> {
        auto name = queue_statement(c, "ack", queue, kAckSql);
        pqxx::nontransaction tx{*c.connection};
        if (tx.exec_prepared(name, id).affected_rows() == 0
            && !attempt.after_loss)
          return not_found("ack", queue, id);
        return {};
      });
}

core::Result<void> PgmqProvider::ack_batch(const std::string& queue,
                                           const std::vector<int64_t>& ids) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  if (ids.empty())
    return {};
  auto id_array = number_array(ids);
  return state_->run<void>(
      "ack_batch", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt&) -> Result<void> {
        auto name = queue_statement(c, "ack_batch", queue, kAckBatchSql);
        pqxx::nontransaction tx{*c.connection};
        tx.exec_prepared(name, id_array);
        return {};
      });
}

core::Result<void> PgmqProvider::nack(const std::string& queue, int64_t id,
                                      const NackAction& action) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  if (action.kind == NackAction::Kind::requeue) {
    auto delay_ms = std::max<int64_t>(0, action.delay.count());
    return state_->run<void>(
        "nack", queue, Retry::safe,
        [&](PooledConnection& c, const Attempt&) -> Result<void> {
          auto name = queue_statement(c, "requeue", queue, kRequeueSql);
          pqxx::nontransaction tx{*c.connection};
          if (tx.exec_prepared(name, id, delay_ms).affected_rows() == 0)
            return not_found("nack", queue, id);
          return {};
        });
  }
  if (is_dead_letter_queue(queue))
    return Error{ErrorCode::invalid_argument,
                 "pgmq nack on queue '" + queue
                     + "': a message of a dead-letter queue cannot be "
                       "dead-lettered again"};
  return state_->run<void>(
      "nack", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt& attempt) -> Result<void> {
        if (dead_letter(c, queue, {id}, action.reason, 0) == 0
            && !attempt.after_loss)
          return not_found("nack", queue, id);
        return {};
      });
}

core::Result<void>
PgmqProvider::extend_visibility(const std::string& queue, int64_t id,
                                std::chrono::seconds timeout) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  if (timeout.count() < 0)
    return Error{ErrorCode::invalid_argument,
                 "pgmq extend_visibility on queue '" + queue
                     + "': the timeout must be 0 or more"};
  return state_->run<void>(
      "extend_visibility", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt&) -> Result<void> {
        auto name = queue_statement(c, "extend", queue, kExtendSql);
        pqxx::nontransaction tx{*c.connection};
        if (tx.exec_prepared(name, id, static_cast<int64_t>(timeout.count()))
                .affected_rows()
            == 0)
          return not_found("extend_visibility", queue, id);
        return {};
      });
}

core::Result<QueueMetrics> PgmqProvider::metrics(const std::string& queue) {
  if (auto ok = validate(queue); !ok)
    return ok.error();
  return state_->run<QueueMetrics>(
      "metrics", queue, Retry::safe,
      [&](PooledConnection& c, const Attempt&) -> Result<QueueMetrics> {
        auto name = queue_statement(c, "metrics", queue, kMetricsSql);
        pqxx::nontransaction tx{*c.connection};
        auto row = tx.exec_prepared1(name);
        QueueMetrics m;
        m.queue = queue;
        m.depth = row[0].as<int64_t>();
        m.visible_depth = row[1].as<int64_t>();
        if (!row[2].is_null())
          m.oldest_message_age = std::chrono::seconds{row[2].as<int64_t>()};
        m.total_sent = row[3].as<int64_t>();
        return m;
      });
}

// -- push ---------------------------------------------------------------------

core::Result<Subscription>
PgmqProvider::subscribe(const std::string& queue, NotificationHandler handler) {
  return subscribe_many({queue}, std::move(handler));
}

core::Result<Subscription>
PgmqProvider::subscribe_many(const std::vector<std::string>& queues,
                             NotificationHandler handler) {
  if (queues.empty())
    return Error{ErrorCode::invalid_argument, "pgmq subscribe: no queue given"};
  for (const auto& queue : queues)
    if (auto ok = validate(queue); !ok)
      return ok.error();
  std::vector<std::optional<std::string>> items(queues.begin(), queues.end());
  auto missing = state_->run<std::vector<std::string>>(
      "subscribe", queues.size() == 1 ? queues.front() : std::string{},
      Retry::safe,
      [&](PooledConnection& c,
          const Attempt&) -> Result<std::vector<std::string>> {
        pqxx::nontransaction tx{*c.connection};
        std::vector<std::string> absent;
        for (const auto& row : tx.exec_params(
                 "SELECT n FROM unnest($1::text[]) AS n WHERE NOT EXISTS "
                 "(SELECT 1 FROM pgmq.meta m WHERE m.queue_name = n)",
                 text_array(items)))
          absent.push_back(row[0].as<std::string>());
        return absent;
      });
  if (!missing)
    return missing.error();
  if (!missing->empty())
    return Error{ErrorCode::queue_not_found,
                 "pgmq subscribe: queue " + queue_list(*missing)
                     + (missing->size() == 1 ? " does" : " do") + " not exist"};
  return state_->ensure_listener()->subscribe(queues, std::move(handler));
}

// -- about --------------------------------------------------------------------

ProviderCapabilities PgmqProvider::capabilities() const {
  ProviderCapabilities caps;
  caps.requires_fallback_polling = true;
  caps.fallback_polling_interval = state_->options.fallback_polling_interval;
  caps.supports_fetch_by_message_id = true;
  caps.supports_visibility_extension = true;
  caps.max_message_size = state_->options.max_message_size;
  caps.exact_metrics = true;
  return caps;
}

} // namespace tasker::messaging
