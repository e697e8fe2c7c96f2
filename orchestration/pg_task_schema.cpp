#include "orchestration/pg_task_schema.hpp"

#include "messaging/pgmq/pg_errors.hpp"
#include "messaging/provider_checks.hpp"

#include <array>
#include <string>

#include <pqxx/pqxx>

namespace tasker::orchestration {

namespace {

// -- migrations (append only: never edit an applied step) ---------------------

// Times cross the wire as microseconds since the epoch (exact both ways,
// unlike float seconds); these two inline into every statement.
//
// Indexes: finding due work must stay fast however much finished history
// piles up, so the sweeper indexes are partial and cover live rows only
// (non-terminal tasks, retrying steps, running steps). History is read per
// task; listing is newest first, optionally by namespace and name.
constexpr std::string_view kTasks = R"sql(
CREATE SCHEMA IF NOT EXISTS tasker;

CREATE OR REPLACE FUNCTION tasker.us_to_time(us bigint)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT timestamptz 'epoch' + us * interval '1 microsecond'
$fn$;

CREATE OR REPLACE FUNCTION tasker.time_to_us(t timestamptz)
RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT (extract(epoch FROM t) * 1000000)::bigint
$fn$;

CREATE TABLE tasker.tasks (
  id uuid PRIMARY KEY,
  namespace text NOT NULL,
  name text NOT NULL,
  version text NOT NULL,
  context jsonb NOT NULL,
  identity_hash text NOT NULL UNIQUE,
  idempotency_key text,
  priority integer NOT NULL DEFAULT 0,
  initiator text NOT NULL DEFAULT '',
  source_system text NOT NULL DEFAULT '',
  reason text NOT NULL DEFAULT '',
  state text NOT NULL DEFAULT 'pending' CHECK (state IN (
    'pending', 'initializing', 'enqueuing_steps', 'steps_in_process',
    'evaluating_results', 'waiting_for_dependencies', 'waiting_for_retry',
    'blocked_by_failures', 'complete', 'error', 'cancelled',
    'resolved_manually')),
  -- Changes applied so far: the fence of decisions taken on a snapshot.
  revision bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  state_since timestamptz NOT NULL,
  completed_at timestamptz
);

-- The staleness sweep: live tasks by how long they sat in their state, and
-- by age (lifetime limit).
CREATE INDEX tasks_live_state_idx ON tasker.tasks (state, state_since)
  WHERE state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually');
CREATE INDEX tasks_live_created_idx ON tasker.tasks (created_at)
  WHERE state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually');
-- Listing, newest first: all tasks, or one template's.
CREATE INDEX tasks_created_idx ON tasker.tasks (created_at DESC, id DESC);
CREATE INDEX tasks_template_created_idx
  ON tasker.tasks (namespace, name, created_at DESC, id DESC);

CREATE TABLE tasker.workflow_steps (
  id uuid PRIMARY KEY,
  task_id uuid NOT NULL REFERENCES tasker.tasks (id) ON DELETE CASCADE,
  name text NOT NULL,
  -- The step's place in the template's topological order.
  position integer NOT NULL,
  handler text NOT NULL,
  handler_initialization jsonb,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN (
    'pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
    'enqueued_as_error_for_orchestration', 'waiting_for_retry', 'complete',
    'error', 'cancelled', 'resolved_manually')),
  attempts integer NOT NULL DEFAULT 0,
  retryable boolean NOT NULL DEFAULT true,
  max_attempts integer NOT NULL DEFAULT 3,
  backoff text NOT NULL DEFAULT 'exponential'
    CHECK (backoff IN ('none', 'linear', 'exponential', 'fibonacci')),
  backoff_base_ms bigint NOT NULL DEFAULT 1000,
  max_backoff_ms bigint NOT NULL DEFAULT 30000,
  jitter_percent integer NOT NULL DEFAULT 0,
  timeout_seconds integer,
  results jsonb,
  last_error jsonb,
  next_retry_at timestamptz,
  enqueued_at timestamptz,
  completed_at timestamptz,
  updated_at timestamptz NOT NULL,
  UNIQUE (task_id, name)
);

-- Due retries and overdue dispatched steps: only the steps in those states.
CREATE INDEX workflow_steps_retry_idx ON tasker.workflow_steps (next_retry_at)
  WHERE state = 'waiting_for_retry';
CREATE INDEX workflow_steps_running_idx ON tasker.workflow_steps (enqueued_at)
  WHERE state IN ('enqueued', 'in_progress');

CREATE TABLE tasker.workflow_step_edges (
  task_id uuid NOT NULL REFERENCES tasker.tasks (id) ON DELETE CASCADE,
  from_step uuid NOT NULL REFERENCES tasker.workflow_steps (id)
    ON DELETE CASCADE,
  to_step uuid NOT NULL REFERENCES tasker.workflow_steps (id)
    ON DELETE CASCADE,
  UNIQUE (from_step, to_step),
  CHECK (from_step <> to_step)
);

-- A step's parents.
CREATE INDEX workflow_step_edges_to_idx ON tasker.workflow_step_edges (to_step);

-- Task and step transitions draw their ids from one sequence, so a task's
-- merged history orders by id exactly as the rows were written.
CREATE SEQUENCE tasker.transition_id_seq AS bigint;

CREATE TABLE tasker.task_transitions (
  id bigint PRIMARY KEY DEFAULT nextval('tasker.transition_id_seq'),
  task_id uuid NOT NULL REFERENCES tasker.tasks (id) ON DELETE CASCADE,
  from_state text,
  to_state text NOT NULL,
  event text NOT NULL,
  metadata jsonb,
  at timestamptz NOT NULL,
  node text NOT NULL DEFAULT ''
);

CREATE INDEX task_transitions_task_idx
  ON tasker.task_transitions (task_id, id);

-- step_id has no foreign key: the history is append-only and written only
-- with its step, and the key's check would need one more index.
CREATE TABLE tasker.workflow_step_transitions (
  id bigint PRIMARY KEY DEFAULT nextval('tasker.transition_id_seq'),
  task_id uuid NOT NULL REFERENCES tasker.tasks (id) ON DELETE CASCADE,
  step_id uuid NOT NULL,
  from_state text,
  to_state text NOT NULL,
  event text NOT NULL,
  metadata jsonb,
  at timestamptz NOT NULL,
  node text NOT NULL DEFAULT ''
);

CREATE INDEX workflow_step_transitions_task_idx
  ON tasker.workflow_step_transitions (task_id, id);

CREATE TABLE tasker.tasks_dlq (
  id bigserial PRIMARY KEY,
  task_id uuid NOT NULL REFERENCES tasker.tasks (id) ON DELETE CASCADE,
  original_state text NOT NULL,
  reason text NOT NULL CHECK (reason IN (
    'staleness_timeout', 'max_retries_exceeded', 'manual')),
  resolution text NOT NULL DEFAULT 'pending' CHECK (resolution IN (
    'pending', 'manually_resolved', 'permanently_failed', 'cancelled')),
  snapshot jsonb NOT NULL,
  notes text NOT NULL DEFAULT '',
  resolved_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- At most one open investigation per task.
CREATE UNIQUE INDEX tasks_dlq_pending_idx ON tasker.tasks_dlq (task_id)
  WHERE resolution = 'pending';
CREATE INDEX tasks_dlq_resolution_idx ON tasker.tasks_dlq (resolution, id);

CREATE TABLE tasker.outbox (
  id bigserial PRIMARY KEY,
  queue text NOT NULL,
  payload text NOT NULL,
  headers jsonb,
  delay_ms bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);
)sql";

// A task's history, one row per change of the task: its transitions, task
// and step alike, in order, each an object with `step_id` (null for the
// task's own), `from_state`, `to_state`, `event`, `metadata`, `at` (Unix
// microseconds) and `node`. Written in place of a row per transition in
// the two transition tables, which keep what was written before. The id
// comes from the transitions' sequence, so a history spanning both layouts
// still orders by id.
constexpr std::string_view kTaskHistory = R"sql(
CREATE TABLE tasker.task_history (
  id bigint NOT NULL,
  task_id uuid NOT NULL REFERENCES tasker.tasks (id) ON DELETE CASCADE,
  entries jsonb NOT NULL,
  PRIMARY KEY (task_id, id)
);
)sql";

constexpr std::array kMigrations{
    messaging::SchemaMigration{1, "tasks", kTasks},
    messaging::SchemaMigration{2, "task_history", kTaskHistory},
};

constexpr std::string_view kComponent = "tasker";

} // namespace

std::span<const messaging::SchemaMigration> task_schema_migrations() {
  return kMigrations;
}

core::Result<void> install_task_schema(pqxx::connection_base& connection) {
  try {
    pqxx::work tx{connection, "tasker_schema"};
    messaging::lock_schema_migrations(tx);
    auto applied
        = messaging::apply_missing_migrations(tx, kComponent, kMigrations);
    tx.commit();
    messaging::log_applied_migrations(kComponent, applied);
    return {};
  } catch (...) {
    return current_task_store_error("schema migration");
  }
}

core::Error current_task_store_error(std::string_view operation,
                                     std::string_view queue) {
  auto translated = messaging::current_pg_error(operation, queue);
  std::string sqlstate;
  try {
    throw;
  } catch (const pqxx::sql_error& e) {
    sqlstate = e.sqlstate();
  } catch (...) {
    // Only SQL errors carry a state.
  }
  // pg_errors words its messages for PGMQ ("pgmq <operation> ...").
  auto message = translated.message();
  auto pgmq_context = messaging::operation_context("pgmq", operation, queue);
  if (message.starts_with(pgmq_context))
    message.replace(
        0, pgmq_context.size(),
        messaging::operation_context("task store", operation, queue));
  auto code = translated.code();
  if (sqlstate == "40001" || sqlstate == "40P01")
    code = core::ErrorCode::backend_unavailable;
  return core::Error{code, std::move(message)};
}

} // namespace tasker::orchestration
