#pragma once

#include "orchestration/task_store.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tasker::orchestration {

/// Settings of the PostgreSQL task store.
struct PgTaskStoreOptions {
  /// libpq connection URL (or key=value string) of the database that holds
  /// schema `tasker`: the PGMQ database by default, or a separate one.
  std::string url;
  /// Connections in the pool.
  int32_t pool_size = 4;
  /// Attempts to open the first connection at start-up before giving up.
  int32_t connect_retries = 5;
  /// Time limit of each connection attempt.
  std::chrono::seconds connect_timeout{10};
  /// True: the messages of a change set are sent with PGMQ's `pgmq.send`
  /// in the change's transaction (the database must be the PGMQ one; the
  /// PGMQ schema is installed or verified at connect). False: they are
  /// written to `tasker.outbox` in that transaction, for a relay to send.
  bool send_with_pgmq = false;
};

/// The PostgreSQL task store: schema `tasker` (see pg_task_schema.hpp),
/// held to the shared store suite. `apply` locks the task row, then its
/// step rows (`SELECT ... FOR UPDATE`), checks the change with
/// `apply_change` and writes only what changed, all in one transaction, so
/// concurrent changes of one task serialize and the loser gets
/// `stale_transition`. Times are stored with microsecond precision (the
/// snapshots it returns are truncated alike). Messages sent through PGMQ
/// also notify `pgmq_message_ready.<namespace>` (as `message_ready`), so
/// PGMQ listeners wake up. At most one `pending` dead-letter entry per
/// task: a second one is refused with `duplicate`. A cheap handle: copies
/// share one connection pool.
class PgTaskStore {
 public:
  /// Connects (with bounded retries), installs or upgrades the schema, and
  /// returns the store; fails with `backend_unavailable` naming the host
  /// when PostgreSQL cannot be reached.
  static core::Result<PgTaskStore> connect(PgTaskStoreOptions options);

  /// Stores a task with its steps, edges and initial history, and with
  /// `start`'s change and messages when given, in one statement (one round
  /// trip; two when the identity exists already).
  core::Result<CreatedTask> create_task(const NewTask& request,
                                        const StartPlanner& start = {});
  /// Stores several tasks as `create_task` does, all in one statement
  /// (one commit); an outcome per request, in order. If the statement
  /// fails (a task's id taken, say), each task is created alone, so only
  /// the failing ones fail.
  std::vector<core::Result<CreatedTask>>
  create_tasks(std::span<const NewTask> requests,
               const StartPlanner& start = {});
  /// Returns the task and its steps (one round trip).
  core::Result<TaskSnapshot> load(const std::string& task_id);
  /// Returns the task's state alone (one small round trip).
  core::Result<TaskState> task_state(const std::string& task_id);
  /// Applies a guarded change set in one transaction of four round trips:
  /// BEGIN, lock and load, one statement writing everything, COMMIT (three
  /// when a guard fails: nothing is written).
  core::Result<TaskSnapshot> apply(const ChangeSet& change);
  /// Applies every change set in one transaction: the tasks are locked in
  /// id order and loaded in one statement, the changes worked out in
  /// memory, and all writes go in one statement (four round trips in all).
  /// If that statement fails, the batch is redone with a savepoint per
  /// change set, so only the failing sets fail. Keep batches under 64
  /// sets: more subtransactions slow the server down.
  std::vector<core::Result<TaskSnapshot>>
  apply_batch(const std::vector<ChangeSet>& changes);
  /// Returns the task's and its steps' transitions in the order they were
  /// written (which is the order the changes were applied).
  core::Result<std::vector<TransitionRecord>>
  history(const std::string& task_id);
  /// Returns a page of tasks, newest first, and how many match.
  core::Result<TaskPage> list_tasks(const TaskQuery& query);

  /// Returns up to `limit` outbox entries without removing them: the ones
  /// this store committed since the relay last took them, from memory (no
  /// round trip between a commit and its messages' send); else, and at
  /// least once a second while those keep coming, the oldest in the table
  /// (entries of other nodes, of a round that failed, of a previous run).
  core::Result<std::vector<OutboxEntry>> take_outbox(int32_t limit);
  /// Deletes the outbox entries `ids` (unknown ids are ignored).
  core::Result<void> remove_outbox(const std::vector<int64_t>& ids);
  /// False when messages are sent with PGMQ in the change's transaction.
  bool sends_with_outbox() const;

  /// Returns live tasks with a step whose retry is due at `now`, the
  /// longest waiting first.
  core::Result<std::vector<std::string>> due_retries(TimePoint now,
                                                     int32_t limit);
  /// Returns dispatched steps past their timeout plus `grace` at `now`.
  core::Result<std::vector<OverdueStep>>
  overdue_steps(TimePoint now, std::chrono::seconds grace, int32_t limit);
  /// Returns live tasks stuck in a state, or alive, beyond `limits`.
  core::Result<std::vector<std::string>>
  stale_tasks(TimePoint now, const StalenessLimits& limits, int32_t limit);
  /// Returns the plans of `due_retries`, `overdue_steps` and `stale_tasks`
  /// for these arguments, each under a heading naming the query
  /// (`== due_retries ==`), for operators checking that the sweeps use
  /// their partial indexes. It runs the three statements the queries run,
  /// on one pooled connection, under `EXPLAIN (ANALYZE, BUFFERS)`: they
  /// execute (read-only) and the plans show actual rows, timings and
  /// buffers.
  core::Result<std::string> explain_due_work(TimePoint now,
                                             std::chrono::seconds grace,
                                             const StalenessLimits& limits,
                                             int32_t limit);

  /// Returns dead-letter entries (of one resolution, when given), oldest
  /// first.
  core::Result<std::vector<DeadLetterEntry>>
  dead_letters(std::optional<DeadLetterResolution> resolution, int32_t limit);
  /// Records an operator's resolution of a dead-letter entry.
  core::Result<DeadLetterEntry>
  resolve_dead_letter(int64_t id, DeadLetterResolution resolution,
                      const std::string& notes, const std::string& by);

  /// The pool and settings the copies of a handle share.
  struct State;

 private:
  explicit PgTaskStore(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

static_assert(TaskStore<PgTaskStore>);

} // namespace tasker::orchestration
