// The PostgreSQL task store: the shared store suite, and what only it does:
// versioned migrations, row locks between concurrent changes, messages sent
// with PGMQ in the change's transaction (or written to the outbox), the
// savepoint fallback of a batch, and connection errors.
#include <doctest/doctest.h>

#include "config/queue_names.hpp"
#include "messaging/pgmq/pgmq_provider.hpp"
#include "orchestration/change_applier.hpp"
#include "orchestration/pg_task_schema.hpp"
#include "orchestration/pg_task_store.hpp"
#include "tests/conformance/task_store_suite.hpp"
#include "tests/conformance/workflow_suite.hpp"
#include "tests/integration/pg_admin.hpp"
#include "tests/integration/test_servers.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

using namespace std::chrono_literals;
using namespace tasker::orchestration;
using tasker::core::ErrorCode;
using tasker::messaging::Available;
using tasker::messaging::MessageNotification;
using tasker::messaging::PgmqOptions;
using tasker::messaging::PgmqProvider;
using tasker::testing::backends_of;
using tasker::testing::diamond_request;
using tasker::testing::enqueue_change;
using tasker::testing::ScratchDatabase;
using tasker::testing::step_id;
using tasker::testing::terminate_backends_of;
using tasker::testing::unique_name;
using tasker::testing::with_application_name;

namespace {

// The database the store tests of this process share. The outbox and the
// due-work queries look at the whole schema, so store tests do not share
// theirs with other processes.
const ScratchDatabase& store_database() {
  static const ScratchDatabase database{"task_store"};
  return database;
}

PgTaskStore connect_store(const std::string& url, bool send_with_pgmq = false) {
  PgTaskStoreOptions options;
  options.url = url;
  options.send_with_pgmq = send_with_pgmq;
  auto store = PgTaskStore::connect(options);
  REQUIRE_MESSAGE(store.ok(), store.error().to_string());
  return std::move(*store);
}

struct PgStoreFixture {
  PgTaskStore store = connect_store(store_database().url());

  std::string unique(std::string_view tag) {
    return unique_name(tag);
  }
};

// Notifications of a subscription, as they arrive.
class Recorder {
 public:
  tasker::messaging::NotificationHandler handler() {
    return [this](MessageNotification n) {
      {
        std::lock_guard<std::mutex> guard{mutex_};
        received_.push_back(std::move(n));
      }
      changed_.notify_all();
    };
  }

  // Waits until `count` notifications arrived; returns all of them.
  std::vector<MessageNotification> wait_for(std::size_t count) {
    std::unique_lock<std::mutex> lock{mutex_};
    changed_.wait_for(lock, 5s, [&] {
      return received_.size() >= count;
    });
    return received_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<MessageNotification> received_;
};

// A PGMQ provider on the store's database and a worker queue of a fresh
// namespace, deleted at the end.
struct PgmqQueue {
  std::string ns = unique_name("pq");
  std::string name = "worker_" + ns + "_queue";
  PgmqProvider provider = connect();

  PgmqQueue() {
    auto created = provider.create_queue(name);
    REQUIRE_MESSAGE(created.ok(), created.error().to_string());
  }

  ~PgmqQueue() {
    (void)provider.delete_queue(name);
  }

  // Records the queue's notifications in `recorder` while the result lives.
  tasker::messaging::Subscription listen(Recorder& recorder) {
    auto subscription = provider.subscribe(name, recorder.handler());
    REQUIRE_MESSAGE(subscription.ok(), subscription.error().to_string());
    return std::move(*subscription);
  }

  static PgmqProvider connect() {
    PgmqOptions options;
    options.url = store_database().url();
    auto provider = PgmqProvider::connect(options);
    REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
    return std::move(*provider);
  }
};

// A store that sends through PGMQ, and a queue whose notifications are
// recorded.
struct NotifiedQueue {
  PgmqQueue queue;
  Recorder recorder;
  tasker::messaging::Subscription subscription = queue.listen(recorder);
  PgTaskStore store = connect_store(store_database().url(), true);
};

CreatedTask create(PgTaskStore& store, const std::string& ns, int n) {
  auto created = store.create_task(diamond_request(ns, {{"n", n}}));
  REQUIRE_MESSAGE(created.ok(), created.error().to_string());
  return std::move(*created);
}

} // namespace

TEST_CASE_TEMPLATE_APPLY(task_store_suite, std::tuple<PgStoreFixture>);
TEST_CASE_TEMPLATE_APPLY(workflow_suite, std::tuple<PgStoreFixture>);

TEST_CASE("migrations run once: connecting again changes nothing") {
  ScratchDatabase db{"task_store"};
  connect_store(db.url());
  auto applied = [&] {
    pqxx::connection conn{db.url()};
    pqxx::nontransaction tx{conn};
    std::vector<std::string> out;
    for (const auto& row :
         tx.exec("SELECT version || ' ' || name || ' ' || applied_at "
                 "FROM public.tasker_schema_migrations WHERE component = "
                 "'tasker' ORDER BY version"))
      out.push_back(row[0].as<std::string>());
    return out;
  };
  auto first = applied();
  REQUIRE(first.size() == task_schema_migrations().size());
  connect_store(db.url());
  CHECK(applied() == first);
}

TEST_CASE("nodes connecting to a fresh database at once all succeed") {
  ScratchDatabase db{"task_store"};
  std::vector<std::string> failures(4);
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < failures.size(); ++i)
    nodes.emplace_back([&, i] {
      PgTaskStoreOptions options;
      options.url = db.url();
      options.send_with_pgmq = i % 2 == 0;
      auto store = PgTaskStore::connect(options);
      if (!store)
        failures[i] = store.error().to_string();
    });
  for (auto& node : nodes)
    node.join();
  for (const auto& failure : failures)
    CHECK_MESSAGE(failure.empty(), failure);
}

TEST_CASE("of two concurrent applies of one change set, one wins and the "
          "other is stale") {
  auto app = unique_name("tsrace");
  auto store
      = connect_store(with_application_name(store_database().url(), app));
  auto created = create(store, unique_name("race"), 1);
  auto change = enqueue_change(created.snapshot, "a", Clock::now());

  // Hold the task row, so both applies queue up behind the lock.
  pqxx::connection blocker{store_database().url()};
  pqxx::work hold{blocker};
  hold.exec_params("SELECT 1 FROM tasker.tasks WHERE id = $1 FOR UPDATE",
                   created.snapshot.task.id);
  std::optional<tasker::core::Result<TaskSnapshot>> results[2];
  std::latch started{2};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      started.count_down();
      results[i].emplace(store.apply(change));
    });
  started.wait();
  for (int i = 0;
       i < 100 && backends_of(app, "wait_event_type = 'Lock'").size() < 2; ++i)
    std::this_thread::sleep_for(20ms);
  CHECK(backends_of(app, "wait_event_type = 'Lock'").size() == 2);
  hold.commit();
  for (auto& thread : threads)
    thread.join();

  auto winners = std::count_if(std::begin(results), std::end(results),
                               [](const auto& r) {
                                 return r->ok();
                               });
  CHECK(winners == 1);
  for (const auto& result : results)
    if (!result->ok())
      CHECK(result->error().code() == ErrorCode::stale_transition);
  auto history = store.history(created.snapshot.task.id);
  REQUIRE(history.ok());
  CHECK(history->size() == 6);
  auto outbox = store.take_outbox(1000);
  REQUIRE(outbox.ok());
  CHECK(std::count_if(outbox->begin(), outbox->end(),
                      [&](const auto& e) {
                        return e.outbound.queue == change.messages[0].queue;
                      })
        == 1);
}

TEST_CASE("with send_with_pgmq, messages go to PGMQ in the change's "
          "transaction and wake listeners") {
  NotifiedQueue f;
  auto& [queue, recorder, subscription, store] = f;
  CHECK_FALSE(store.sends_with_outbox());
  CHECK(connect_store(store_database().url()).sends_with_outbox());
  auto created = create(store, queue.ns, 1);
  auto change = enqueue_change(created.snapshot, "a", Clock::now());
  REQUIRE(change.messages[0].queue == queue.name);

  auto applied = store.apply(change);
  REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());
  auto notified = recorder.wait_for(1);
  REQUIRE(notified.size() == 1);
  auto* available = std::get_if<Available>(&notified[0]);
  REQUIRE(available != nullptr);
  CHECK(available->queue == queue.name);
  auto received = queue.provider.receive(queue.name, 10, 30s);
  REQUIRE(received.ok());
  REQUIRE(received->size() == 1);
  CHECK(nlohmann::json::parse(received->front().payload)
        == nlohmann::json{{"step", "a"}});
  CHECK(available->msg_id == received->front().id);
  REQUIRE(queue.provider.ack(queue.name, received->front().id).ok());

  SUBCASE("a change whose guard fails sends nothing") {
    auto again = store.apply(change);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code() == ErrorCode::stale_transition);
    auto metrics = queue.provider.metrics(queue.name);
    REQUIRE(metrics.ok());
    CHECK(metrics->depth == 0);
  }
  SUBCASE("a message to a missing queue fails the change, naming the queue") {
    auto missing = "worker_" + unique_name("gone") + "_queue";
    auto next = enqueue_change(*applied, "b", Clock::now());
    next.messages[0].queue = missing;
    auto refused = store.apply(next);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code() == ErrorCode::queue_not_found);
    CHECK(refused.error().message().find(missing) != std::string::npos);
    CHECK(refused.error().message().find("SELECT") == std::string::npos);
    auto loaded = store.load(created.snapshot.task.id);
    REQUIRE(loaded.ok());
    CHECK(loaded->find_step("b")->attempts == 0);
  }
}

TEST_CASE("with send_with_pgmq, a task created with its start sends the "
          "start's messages in the creating statement and wakes listeners") {
  NotifiedQueue f;
  auto& [queue, recorder, subscription, store] = f;
  StartPlanner start = [](const TaskSnapshot& laid_out) {
    return tasker::core::Result<ChangeSet>{
        enqueue_change(laid_out, "a", Clock::now())};
  };
  auto created
      = store.create_task(diamond_request(queue.ns, {{"n", 1}}), start);
  REQUIRE_MESSAGE(created.ok(), created.error().to_string());
  CHECK(created->started);
  auto notified = recorder.wait_for(1);
  REQUIRE(notified.size() == 1);
  auto received = queue.provider.receive(queue.name, 10, 30s);
  REQUIRE(received.ok());
  REQUIRE(received->size() == 1);
  CHECK(nlohmann::json::parse(received->front().payload)
        == nlohmann::json{{"step", "a"}});
  REQUIRE(queue.provider.ack(queue.name, received->front().id).ok());
  auto loaded = store.load(created->snapshot.task.id);
  REQUIRE(loaded.ok());
  CHECK(loaded->find_step("a")->state == StepState::enqueued);

  // The same request again finds the task and sends nothing.
  auto again = store.create_task(diamond_request(queue.ns, {{"n", 1}}), start);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK_FALSE(again->started);
  auto metrics = queue.provider.metrics(queue.name);
  REQUIRE(metrics.ok());
  CHECK(metrics->depth == 0);

  SUBCASE("a start sending to a missing queue creates nothing and names the "
          "queue") {
    auto missing = "worker_" + unique_name("gone") + "_queue";
    StartPlanner to_missing = [&](const TaskSnapshot& laid_out) {
      auto change = enqueue_change(laid_out, "a", Clock::now());
      change.messages[0].queue = missing;
      return tasker::core::Result<ChangeSet>{change};
    };
    auto request = diamond_request(queue.ns, {{"n", 2}});
    auto refused = store.create_task(request, to_missing);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code() == ErrorCode::queue_not_found);
    CHECK(refused.error().message().find(missing) != std::string::npos);
    // Nothing was stored: the same request creates the task afterwards.
    auto retried = store.create_task(request, start);
    REQUIRE(retried.ok());
    CHECK(retried->created);
  }
}

TEST_CASE("a batch sending to two queues delivers every message, each "
          "announced with its id once the batch commits") {
  // The queue most of a batch's messages go to is written by the store's
  // statement itself; the others go through pgmq.send.
  PgmqQueue busy;
  PgmqQueue other;
  Recorder recorder;
  std::vector<tasker::messaging::Subscription> subscriptions;
  for (auto* queue : {&busy, &other})
    subscriptions.push_back(queue->listen(recorder));
  auto store = connect_store(store_database().url(), true);
  std::vector<ChangeSet> batch;
  for (int i = 0; i < 5; ++i) {
    auto& queue = i < 3 ? busy : other;
    auto created = create(store, queue.ns, i);
    batch.push_back(enqueue_change(created.snapshot, "a", Clock::now()));
    REQUIRE(batch.back().messages[0].queue == queue.name);
  }

  auto results = store.apply_batch(batch);
  for (const auto& result : results)
    REQUIRE_MESSAGE(result.ok(), result.error().to_string());
  auto notified = recorder.wait_for(5);
  REQUIRE(notified.size() == 5);
  for (auto [queue, count] : {std::pair{&busy, 3}, std::pair{&other, 2}}) {
    auto received = queue->provider.receive(queue->name, 10, 30s);
    REQUIRE(received.ok());
    REQUIRE(received->size() == static_cast<std::size_t>(count));
    for (const auto& message : *received) {
      CHECK(nlohmann::json::parse(message.payload)
            == nlohmann::json{{"step", "a"}});
      auto announced
          = std::count_if(notified.begin(), notified.end(), [&](const auto& n) {
              const auto* available = std::get_if<Available>(&n);
              return available != nullptr && available->queue == queue->name
                     && available->msg_id == message.id;
            });
      CHECK(announced == 1);
    }
  }
}

// Executions of the store's statement that raises deferred notifications,
// in this process's database (pg_stat_statements, which the test servers
// preload).
// Executions of the statements of the test database whose text is LIKE
// `pattern`, by pg_stat_statements.
int64_t statement_calls(const std::string& pattern) {
  pqxx::connection c{store_database().url()};
  pqxx::nontransaction tx{c};
  tx.exec0("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  return tx
      .exec_params1(
          "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements "
          "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
          "current_database()) AND query LIKE $1",
          pattern)[0]
      .as<int64_t>();
}

int64_t deferred_notify_calls() {
  return statement_calls("%set_config(%pg_notify(%");
}

// Receives `count` messages of the queue and checks that each one was
// announced once in `notified`.
void check_announced_once(PgmqQueue& queue,
                          const std::vector<MessageNotification>& notified,
                          std::size_t count) {
  auto received = queue.provider.receive(queue.name, 10, 30s);
  REQUIRE(received.ok());
  REQUIRE(received->size() == count);
  for (const auto& message : *received)
    CHECK(std::count_if(notified.begin(), notified.end(),
                        [&](const auto& n) {
                          const auto* available = std::get_if<Available>(&n);
                          return available != nullptr
                                 && available->msg_id == message.id;
                        })
          == 1);
}

TEST_CASE("a batch raises its notifications after its commit, in a "
          "transaction of its own; a write alone raises them itself") {
  NotifiedQueue f;
  auto& [queue, recorder, subscription, store] = f;
  std::vector<ChangeSet> batch;
  for (int i = 0; i < 3; ++i)
    batch.push_back(
        enqueue_change(create(store, queue.ns, i).snapshot, "a", Clock::now()));
  auto alone
      = enqueue_change(create(store, queue.ns, 3).snapshot, "a", Clock::now());
  auto before = deferred_notify_calls();

  auto applied = store.apply(alone);
  REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());
  REQUIRE(recorder.wait_for(1).size() == 1);
  CHECK(deferred_notify_calls() == before);

  for (const auto& result : store.apply_batch(batch))
    REQUIRE_MESSAGE(result.ok(), result.error().to_string());
  auto notified = recorder.wait_for(4);
  REQUIRE(notified.size() == 4);
  CHECK(deferred_notify_calls() == before + 1);
  check_announced_once(queue, notified, 4);
}

TEST_CASE("tasks created together are written in one statement and "
          "announced after its commit; a request whose id is taken fails "
          "alone") {
  NotifiedQueue f;
  auto& [queue, recorder, subscription, store] = f;
  StartPlanner start = [](const TaskSnapshot& laid_out) {
    return tasker::core::Result<ChangeSet>{
        enqueue_change(laid_out, "a", Clock::now())};
  };
  auto creations = [] {
    return statement_calls("%INSERT INTO tasker.tasks%");
  };
  std::vector<NewTask> requests;
  for (int i = 0; i < 3; ++i)
    requests.push_back(diamond_request(queue.ns, {{"n", i}}));
  auto notify_before = deferred_notify_calls();
  auto creations_before = creations();
  auto created = store.create_tasks(requests, start);
  REQUIRE(created.size() == 3);
  for (const auto& task : created) {
    REQUIRE_MESSAGE(task.ok(), task.error().to_string());
    CHECK(task->created);
    CHECK(task->started);
  }
  CHECK(creations() == creations_before + 1);
  auto notified = recorder.wait_for(3);
  REQUIRE(notified.size() == 3);
  CHECK(deferred_notify_calls() == notify_before + 1);
  check_announced_once(queue, notified, 3);

  // An id taken by another task fails the statement: each is then created
  // alone, and only that one fails.
  auto taken = diamond_request(queue.ns, {{"n", 10}});
  taken.id = created[0]->snapshot.task.id;
  auto again = store.create_tasks(
      std::vector<NewTask>{diamond_request(queue.ns, {{"n", 11}}), taken,
                           diamond_request(queue.ns, {{"n", 12}})},
      start);
  REQUIRE(again.size() == 3);
  REQUIRE_MESSAGE(again[0].ok(), again[0].error().to_string());
  CHECK(again[0]->created);
  CHECK_FALSE(again[1].ok());
  REQUIRE_MESSAGE(again[2].ok(), again[2].error().to_string());
  CHECK(again[2]->created);
  auto left = queue.provider.metrics(queue.name);
  REQUIRE(left.ok());
  // The two tasks created sent their first step; the failed one nothing.
  CHECK(left->depth == 5);
  auto loaded = store.load(created[0]->snapshot.task.id);
  REQUIRE(loaded.ok());
  CHECK(loaded->task.context == nlohmann::json{{"n", 0}});
}

TEST_CASE("a batch whose write fails is redone with a savepoint per change "
          "set") {
  PgmqQueue queue;
  auto store = connect_store(store_database().url(), true);
  std::vector<CreatedTask> tasks;
  for (int i = 0; i < 3; ++i)
    tasks.push_back(create(store, queue.ns, i));
  std::vector<ChangeSet> batch;
  for (const auto& task : tasks)
    batch.push_back(enqueue_change(task.snapshot, "a", Clock::now()));
  batch[1].messages[0].queue = "worker_" + unique_name("gone") + "_queue";
  Recorder recorder;
  auto subscription = queue.listen(recorder);

  auto results = store.apply_batch(batch);
  REQUIRE(results.size() == 3);
  REQUIRE_MESSAGE(results[0].ok(), results[0].error().to_string());
  REQUIRE_MESSAGE(results[2].ok(), results[2].error().to_string());
  REQUIRE_FALSE(results[1].ok());
  CHECK(results[1].error().code() == ErrorCode::queue_not_found);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    auto loaded = store.load(tasks[i].snapshot.task.id);
    REQUIRE(loaded.ok());
    CHECK(loaded->find_step("a")->state
          == (i == 1 ? StepState::pending : StepState::enqueued));
  }
  auto metrics = queue.provider.metrics(queue.name);
  REQUIRE(metrics.ok());
  CHECK(metrics->depth == 2);
  // The two written change sets are announced (together, after the
  // commit), the undone one is not.
  CHECK(recorder.wait_for(2).size() == 2);
  auto received = queue.provider.receive(queue.name, 10, 30s);
  REQUIRE(received.ok());
  CHECK(received->size() == 2);
  CHECK(recorder.wait_for(2).size() == 2);
}

TEST_CASE("a batch applies change sets of one task in order") {
  PgStoreFixture f;
  auto created = create(f.store, unique_name("seq"), 1);
  auto now = Clock::now();
  auto first = enqueue_change(created.snapshot, "a", now);
  auto second = enqueue_change(created.snapshot, "b", now);
  auto stale = enqueue_change(created.snapshot, "a", now);
  auto results = f.store.apply_batch({first, second, stale});
  REQUIRE(results.size() == 3);
  CHECK(results[0].ok());
  REQUIRE(results[1].ok());
  CHECK(results[1]->find_step("a")->state == StepState::enqueued);
  CHECK(results[1]->find_step("b")->state == StepState::enqueued);
  REQUIRE_FALSE(results[2].ok());
  CHECK(results[2].error().code() == ErrorCode::stale_transition);
  CHECK(f.store.history(created.snapshot.task.id)->size() == 7);
}

TEST_CASE("a task's history is a row per change, read after the transition "
          "rows written before it") {
  PgStoreFixture f;
  auto created = create(f.store, unique_name("hist"), 1);
  const auto& id = created.snapshot.task.id;
  pqxx::connection sql{store_database().url()};
  auto count = [&](const std::string& table) {
    pqxx::nontransaction tx{sql};
    return tx
        .exec_params1("SELECT count(*) FROM tasker." + table
                          + " WHERE task_id = $1::uuid",
                      id)[0]
        .as<int>();
  };
  CHECK(count("task_history") == 1);
  CHECK(count("task_transitions") == 0);
  CHECK(count("workflow_step_transitions") == 0);
  const auto written = f.store.history(id)->size();

  // Rows of the layout before `task_history`, as an upgraded database has.
  {
    pqxx::work tx{sql};
    tx.exec_params(
        "INSERT INTO tasker.task_transitions (id, task_id, from_state, "
        "to_state, event, metadata, at, node) VALUES "
        "(nextval('tasker.transition_id_seq'), $1::uuid, 'pending', "
        "'pending', 'old_task_event', NULL, now(), 'old-node')",
        id);
    tx.exec_params(
        "INSERT INTO tasker.workflow_step_transitions (id, task_id, step_id, "
        "from_state, to_state, event, metadata, at, node) VALUES "
        "(nextval('tasker.transition_id_seq'), $1::uuid, $2::uuid, NULL, "
        "'pending', 'old_step_event', '{\"k\": 1}', now(), 'old-node')",
        id, step_id(created.snapshot, "b"));
    tx.commit();
  }
  auto enqueued
      = f.store.apply(enqueue_change(created.snapshot, "a", Clock::now()));
  REQUIRE_MESSAGE(enqueued.ok(), enqueued.error().to_string());
  CHECK(count("task_history") == 2);

  auto history = f.store.history(id);
  REQUIRE(history.ok());
  REQUIRE(history->size() == written + 3);
  const auto& old_task = (*history)[written];
  CHECK(old_task.event == "old_task_event");
  CHECK(old_task.step_id.empty());
  CHECK(old_task.metadata.is_null());
  CHECK(old_task.node == "old-node");
  const auto& old_step = (*history)[written + 1];
  CHECK(old_step.event == "old_step_event");
  CHECK(old_step.step_id == step_id(created.snapshot, "b"));
  CHECK(old_step.from_state.empty());
  CHECK(old_step.metadata == nlohmann::json{{"k", 1}});
  const auto& latest = history->back();
  CHECK(latest.step_id == step_id(created.snapshot, "a"));
  CHECK(latest.to_state == "enqueued");
  CHECK(latest.node == "suite-node");
  CHECK(latest.task_id == id);
  CHECK(history->front().from_state.empty());
  CHECK(history->front().task_id == id);
}

TEST_CASE("a change bringing its basis is written without a read, guarded "
          "by the task's revision; a basis behind the store writes nothing") {
  PgmqQueue queue;
  auto store = connect_store(store_database().url(), true);
  auto on_basis = [](ChangeSet change, const TaskSnapshot& basis) {
    change.expected_revision = basis.task.revision;
    change.basis = std::make_shared<const TaskSnapshot>(basis);
    return change;
  };
  auto depth = [&] {
    auto metrics = queue.provider.metrics(queue.name);
    REQUIRE(metrics.ok());
    return metrics->depth;
  };
  // Results the changes answer, deleted with them when written.
  const std::string results{tasker::config::kStepResultsQueue};
  REQUIRE(queue.provider.ensure_queues({results}).ok());
  auto result_message = [&] {
    auto id = queue.provider.send(results, {"{}", {}, {}});
    REQUIRE(id.ok());
    return *id;
  };
  auto waiting_results = [&](std::initializer_list<int64_t> ids) {
    for (auto id : ids)
      if (!queue.provider.read_by_id(results, id, 1s)->has_value())
        return false;
    return true;
  };
  auto created = create(store, queue.ns, 1);
  const auto& id = created.snapshot.task.id;
  auto now = Clock::now();
  auto answered = result_message();
  auto first_change
      = on_basis(enqueue_change(created.snapshot, "a", now), created.snapshot);
  first_change.consumed_result = answered;
  auto first = store.apply(first_change);
  REQUIRE_MESSAGE(first.ok(), first.error().to_string());
  CHECK_FALSE(waiting_results({answered}));
  CHECK(first->task.revision == created.snapshot.task.revision + 1);
  CHECK(store.load(id)->find_step("a")->state == StepState::enqueued);
  CHECK(depth() == 1);
  const auto history = store.history(id)->size();

  // Decided on the task before `first`: nothing of it is written.
  auto unanswered = result_message();
  auto behind_change
      = on_basis(enqueue_change(created.snapshot, "b", now), created.snapshot);
  behind_change.consumed_result = unanswered;
  auto behind = store.apply(behind_change);
  REQUIRE_FALSE(behind.ok());
  CHECK(waiting_results({unanswered}));
  CHECK(behind.error().code() == ErrorCode::stale_transition);
  CHECK(store.load(id)->find_step("b")->state == StepState::pending);
  CHECK(store.history(id)->size() == history);
  CHECK(depth() == 1);

  // In a batch: a change on the current basis and one after it on the same
  // task, a stale one on another task, alone or with a task to read.
  for (bool with_read : {false, true}) {
    CAPTURE(with_read);
    auto task = create(store, queue.ns, with_read ? 10 : 20);
    auto current = store.apply(enqueue_change(task.snapshot, "a", now));
    REQUIRE(current.ok());
    auto other = create(store, queue.ns, with_read ? 11 : 21);
    REQUIRE(store.apply(enqueue_change(other.snapshot, "a", now)).ok());
    auto read_too = create(store, queue.ns, with_read ? 12 : 22);
    auto b = on_basis(enqueue_change(*current, "b", now), *current);
    auto after_b = apply_change(*current, b);
    REQUIRE(after_b.ok());
    auto c = enqueue_change(after_b->after, "c", now);
    c.expected_revision = after_b->after.task.revision;
    std::vector<ChangeSet> batch{
        b, c,
        on_basis(enqueue_change(other.snapshot, "b", now), other.snapshot)};
    if (with_read)
      batch.push_back(enqueue_change(read_too.snapshot, "a", now));
    const auto before = depth();
    auto results = store.apply_batch(batch);
    REQUIRE(results.size() == batch.size());
    REQUIRE_MESSAGE(results[0].ok(), results[0].error().to_string());
    REQUIRE_MESSAGE(results[1].ok(), results[1].error().to_string());
    CHECK(results[1]->task.revision == current->task.revision + 2);
    REQUIRE_FALSE(results[2].ok());
    CHECK(results[2].error().code() == ErrorCode::stale_transition);
    CHECK(store.load(other.snapshot.task.id)->find_step("b")->state
          == StepState::pending);
    if (with_read)
      CHECK(results[3].ok());
    auto stored = store.load(task.snapshot.task.id);
    REQUIRE(stored.ok());
    CHECK(stored->task.revision == current->task.revision + 2);
    CHECK(stored->find_step("b")->state == StepState::enqueued);
    CHECK(stored->find_step("c")->state == StepState::enqueued);
    CHECK(depth() == before + (with_read ? 3 : 2));
  }
}

TEST_CASE("without PGMQ, messages land in the outbox with headers and "
          "delay; snapshots match what loads back") {
  PgStoreFixture f;
  auto ns = unique_name("obx");
  auto created = create(f.store, ns, 1);
  auto now = Clock::now();
  auto change = enqueue_change(created.snapshot, "a", now);
  change.messages.push_back(
      {"worker_" + ns + "_queue", {"not json", {{"k", "v"}}, 1500ms}});
  auto applied = f.store.apply(change);
  REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());

  auto loaded = f.store.load(created.snapshot.task.id);
  REQUIRE(loaded.ok());
  const auto* a = loaded->find_step("a");
  CHECK(applied->find_step("a")->enqueued_at == a->enqueued_at);
  CHECK(applied->find_step("a")->updated_at == a->updated_at);
  CHECK(a->enqueued_at == std::chrono::floor<std::chrono::microseconds>(now));
  CHECK(loaded->find_step("d")->parents.size() == 2);

  auto outbox = f.store.take_outbox(1000);
  REQUIRE(outbox.ok());
  std::vector<OutboxEntry> mine;
  std::vector<int64_t> ids;
  for (const auto& entry : *outbox)
    if (entry.outbound.queue == "worker_" + ns + "_queue") {
      mine.push_back(entry);
      ids.push_back(entry.id);
    }
  REQUIRE(mine.size() == 2);
  CHECK(mine[0].id < mine[1].id);
  CHECK(mine[0].outbound.message.payload == R"({"step":"a"})");
  CHECK(mine[1].outbound.message.payload == "not json");
  CHECK(mine[1].outbound.message.headers
        == tasker::messaging::Headers{{"k", "v"}});
  CHECK(mine[1].outbound.message.delay == 1500ms);
  CHECK(mine[1].created_at
        == std::chrono::floor<std::chrono::microseconds>(now));
  REQUIRE(f.store.remove_outbox(ids).ok());
  auto left = f.store.take_outbox(1000);
  REQUIRE(left.ok());
  for (const auto& entry : *left)
    CHECK(std::find(ids.begin(), ids.end(), entry.id) == ids.end());
}

TEST_CASE("connection errors name the host; dropped connections are "
          "replaced") {
  PgTaskStoreOptions options;
  options.url = "postgresql://tasker@127.0.0.1:1/tasker_test";
  options.connect_retries = 1;
  options.connect_timeout = 1s;
  auto unreachable = PgTaskStore::connect(options);
  REQUIRE_FALSE(unreachable.ok());
  CHECK(unreachable.error().code() == ErrorCode::backend_unavailable);
  CHECK(unreachable.error().message().find("127.0.0.1:1") != std::string::npos);

  auto app = unique_name("tsdrop");
  auto store
      = connect_store(with_application_name(store_database().url(), app));
  auto created = create(store, unique_name("drop"), 1);
  CHECK(terminate_backends_of(app) >= 1);
  auto loaded = store.load(created.snapshot.task.id);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().to_string());
  CHECK(terminate_backends_of(app) >= 1);
  auto applied
      = store.apply(enqueue_change(created.snapshot, "a", Clock::now()));
  REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());
}

TEST_CASE("the store's statements are never compiled by JIT: a listing by "
          "state scans without compiling") {
  // The store's sessions plan without sequential scans; a plan that still
  // needs one costs more than JIT's threshold, and JIT would compile it at
  // every execution (~0.2 s here).
  ScratchDatabase database{"jit"};
  auto store = connect_store(database.url());
  auto created = create(store, unique_name("jit"), 1);
  pqxx::connection admin{database.url()};
  pqxx::nontransaction tx{admin};
  REQUIRE_MESSAGE(tx.exec1("SELECT pg_jit_available()")[0].as<bool>(),
                  "the test server has no JIT to keep off");
  tx.exec0("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  tx.exec("SELECT pg_stat_statements_reset()");

  TaskQuery query;
  query.state = created.snapshot.task.state;
  auto page = store.list_tasks(query);
  REQUIRE_MESSAGE(page.ok(), page.error().to_string());
  CHECK(page->total == 1);

  auto listed = tx.exec1(
      "SELECT coalesce(sum(calls), 0), coalesce(sum(jit_functions), 0) FROM "
      "pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE "
      "datname = current_database()) AND query LIKE '%FROM tasker.tasks "
      "WHERE state = $1%'");
  CHECK(listed[0].as<int64_t>() >= 1);
  CHECK(listed[1].as<int64_t>() == 0);
}

TEST_CASE("the outbox entries a store committed are taken from memory, with "
          "their rows' ids; a read of the table is not taken twice") {
  ScratchDatabase database{"outbox"};
  auto store = connect_store(database.url());
  // The first take reads the table: entries of a previous run.
  auto first = store.take_outbox(100);
  REQUIRE(first.ok());
  CHECK(first->empty());

  auto ns = unique_name("fast");
  auto queue = "worker_" + ns + "_queue";
  StartPlanner start = [&](const TaskSnapshot& laid_out) {
    return tasker::core::Result<ChangeSet>{
        enqueue_change(laid_out, "a", Clock::now())};
  };
  auto created = store.create_task(diamond_request(ns, {{"n", 1}}), start);
  REQUIRE_MESSAGE(created.ok(), created.error().to_string());
  REQUIRE(created->started);
  auto now = Clock::now();
  auto change = enqueue_change(created->snapshot, "b", now);
  change.messages.push_back({queue, {"third", {{"k", "v"}}, 1500ms}});
  auto applied = store.apply(change);
  REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());

  // The rows go behind the store's back: what it hands over comes from
  // memory, under the ids the rows had.
  pqxx::connection admin{database.url()};
  pqxx::nontransaction tx{admin};
  std::vector<int64_t> deleted;
  for (const auto& row : tx.exec("DELETE FROM tasker.outbox RETURNING id"))
    deleted.push_back(row[0].as<int64_t>());
  std::sort(deleted.begin(), deleted.end());
  REQUIRE(deleted.size() == 3);
  auto taken = store.take_outbox(100);
  REQUIRE_MESSAGE(taken.ok(), taken.error().to_string());
  REQUIRE(taken->size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK((*taken)[i].id == deleted[i]);
    CHECK((*taken)[i].outbound.queue == queue);
  }
  CHECK((*taken)[0].outbound.message.payload == R"({"step":"a"})");
  CHECK((*taken)[1].outbound.message.payload == R"({"step":"b"})");
  CHECK((*taken)[2].outbound.message.payload == "third");
  CHECK((*taken)[2].outbound.message.headers
        == tasker::messaging::Headers{{"k", "v"}});
  CHECK((*taken)[2].outbound.message.delay == 1500ms);
  CHECK((*taken)[2].created_at
        == std::chrono::floor<std::chrono::microseconds>(now));
  // Nothing left in memory, and the table is empty.
  CHECK(store.take_outbox(100)->empty());

  // An entry that a read of the table returned is not taken again from
  // memory once its row is removed: a second store (a node started anew)
  // reads the table at its first take, with its own entry in memory.
  auto restarted = connect_store(database.url());
  auto later = restarted.apply(enqueue_change(*applied, "c", Clock::now()));
  REQUIRE_MESSAGE(later.ok(), later.error().to_string());
  auto read = restarted.take_outbox(100);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1);
  CHECK(read->front().outbound.message.payload == R"({"step":"c"})");
  REQUIRE(restarted.remove_outbox({read->front().id}).ok());
  CHECK(restarted.take_outbox(100)->empty());
}
