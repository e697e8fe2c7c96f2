#pragma once

// The task store suite: written once, run against every store. Include it
// in exactly one source file per test executable and apply it to fixture
// types:
//
//   TEST_CASE_TEMPLATE_APPLY(task_store_suite, std::tuple<InMemoryFixture>);
//
// A fixture is default-constructible and provides:
//   Store store;                    // a TaskStore, empty of this test's data
//   std::string unique(std::string_view tag);  // a name no other run uses

#include "orchestration/task_identity.hpp"
#include "orchestration/task_store.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace tasker::testing {

using namespace std::chrono_literals;

/// A diamond: a → (b, c) → d, on namespace `ns`.
inline orchestration::NewTask diamond_request(const std::string& ns,
                                              const nlohmann::json& context) {
  orchestration::NewTask request;
  request.namespace_name = ns;
  request.name = "diamond";
  request.version = "1.0.0";
  request.context = context;
  request.identity_hash
      = orchestration::task_identity_hash(ns, "diamond", "1.0.0", context, {});
  request.initiator = "suite";
  auto step = [](std::string name, std::vector<std::string> dependencies) {
    orchestration::NewStep out;
    out.name = std::move(name);
    out.handler = "tasker.square";
    out.handler_initialization = {{"factor", 2}};
    out.dependencies = std::move(dependencies);
    out.timeout_seconds = 30;
    return out;
  };
  request.steps = {step("a", {}), step("b", {"a"}), step("c", {"a"}),
                   step("d", {"b", "c"})};
  return request;
}

/// The id of the step named `name`.
inline std::string step_id(const orchestration::TaskSnapshot& snapshot,
                           const std::string& name) {
  auto step = snapshot.find_step(name);
  REQUIRE_MESSAGE(step != nullptr, "no step " << name);
  return step->id;
}

/// Enqueues step `name` (pending → enqueued, attempts 1) with one message.
inline orchestration::ChangeSet
enqueue_change(const orchestration::TaskSnapshot& snapshot,
               const std::string& name, orchestration::TimePoint at) {
  using namespace orchestration;
  ChangeSet change;
  change.task_id = snapshot.task.id;
  change.at = at;
  change.node = "suite-node";
  StepChange step;
  step.step_id = step_id(snapshot, name);
  step.expected_state = StepState::pending;
  step.events = {StepEvent::enqueue};
  step.attempts = 1;
  step.enqueued_at = at;
  change.steps.push_back(step);
  change.messages.push_back(
      {"worker_" + snapshot.task.namespace_name + "_queue",
       {R"({"step":")" + name + "\"}", {}, {}}});
  return change;
}

} // namespace tasker::testing

TEST_CASE_TEMPLATE_DEFINE("task store", Fixture, task_store_suite) {
  using namespace tasker;
  using namespace tasker::orchestration;
  using namespace tasker::testing;
  Fixture f;
  const auto ns = f.unique("ns");
  const auto now = Clock::now();

  SUBCASE("create stores task, steps, edges and history; same identity "
          "returns the first task") {
    auto created = f.store.create_task(diamond_request(ns, {{"n", 1}}));
    REQUIRE_MESSAGE(created.ok(), created.error().to_string());
    CHECK(created->created);
    const auto& snapshot = created->snapshot;
    CHECK(snapshot.task.state == TaskState::pending);
    CHECK(snapshot.task.context == nlohmann::json{{"n", 1}});
    REQUIRE(snapshot.steps.size() == 4);
    auto d = snapshot.find_step("d");
    REQUIRE(d != nullptr);
    std::vector<std::string> parents = d->parents;
    std::sort(parents.begin(), parents.end());
    std::vector<std::string> expected{step_id(snapshot, "b"),
                                      step_id(snapshot, "c")};
    std::sort(expected.begin(), expected.end());
    CHECK(parents == expected);
    CHECK(d->handler == "tasker.square");
    CHECK(d->handler_initialization == nlohmann::json{{"factor", 2}});
    CHECK(d->timeout_seconds == std::optional<int32_t>{30});
    for (const auto& step : snapshot.steps) {
      CHECK(step.state == StepState::pending);
      CHECK(step.attempts == 0);
    }
    auto history = f.store.history(snapshot.task.id);
    REQUIRE(history.ok());
    CHECK(history->size() == 5);

    auto again = f.store.create_task(diamond_request(ns, {{"n", 1}}));
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK(again->snapshot.task.id == snapshot.task.id);
    auto other = f.store.create_task(diamond_request(ns, {{"n", 2}}));
    REQUIRE(other.ok());
    CHECK(other->created);
    CHECK(other->snapshot.task.id != snapshot.task.id);

    auto loaded = f.store.load(snapshot.task.id);
    REQUIRE(loaded.ok());
    CHECK(loaded->steps.size() == 4);
    CHECK(f.store.load("00000000-0000-7000-8000-000000000000").error().code()
          == core::ErrorCode::not_found);
    auto state = f.store.task_state(snapshot.task.id);
    REQUIRE(state.ok());
    CHECK(*state == TaskState::pending);
    for (const std::string unknown :
         {"00000000-0000-7000-8000-000000000000", "not-a-task"})
      CHECK(f.store.task_state(unknown).error().code()
            == core::ErrorCode::not_found);
  }

  SUBCASE("create with a start writes the task as the start leaves it, with "
          "its history and messages; a task that exists is returned as it "
          "is") {
    auto starts = 0;
    StartPlanner start
        = [&](const TaskSnapshot& laid_out) -> core::Result<ChangeSet> {
      ++starts;
      CHECK(laid_out.task.state == TaskState::pending);
      auto change = enqueue_change(laid_out, "a", now);
      change.task = TaskChange{TaskState::pending,
                               {TaskEvent::start, TaskEvent::ready_steps_found,
                                TaskEvent::steps_enqueued},
                               {}};
      return change;
    };
    auto created = f.store.create_task(diamond_request(ns, {{"n", 11}}), start);
    REQUIRE_MESSAGE(created.ok(), created.error().to_string());
    CHECK(created->created);
    CHECK(created->started);
    CHECK(starts == 1);
    const auto& id = created->snapshot.task.id;
    CHECK(created->snapshot.task.state == TaskState::steps_in_process);
    auto loaded = f.store.load(id);
    REQUIRE(loaded.ok());
    CHECK(loaded->task.state == TaskState::steps_in_process);
    CHECK(loaded->task.revision == created->snapshot.task.revision);
    CHECK(loaded->task.revision > 0);
    auto a = loaded->find_step("a");
    CHECK(a->state == StepState::enqueued);
    CHECK(a->attempts == 1);
    CHECK(a->enqueued_at.has_value());
    CHECK(loaded->find_step("b")->state == StepState::pending);
    auto history = f.store.history(id);
    REQUIRE(history.ok());
    // 5 from create, then 3 task events and the step's, in that order.
    REQUIRE(history->size() == 9);
    for (std::size_t i = 0; i < 5; ++i)
      CHECK((*history)[i].event == "create");
    CHECK((*history)[5].event == "start");
    CHECK(history->back().event == "enqueue");
    CHECK(history->back().step_id == a->id);
    auto queued_for_ns = [&] {
      auto outbox = f.store.take_outbox(1000);
      REQUIRE(outbox.ok());
      return std::count_if(outbox->begin(), outbox->end(), [&](auto& e) {
        return e.outbound.queue == "worker_" + ns + "_queue";
      });
    };
    if (f.store.sends_with_outbox())
      CHECK(queued_for_ns() == 1);

    auto again = f.store.create_task(diamond_request(ns, {{"n", 11}}), start);
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK_FALSE(again->started);
    CHECK(again->snapshot.task.revision == loaded->task.revision);
    CHECK(f.store.history(id)->size() == 9);
    if (f.store.sends_with_outbox())
      CHECK(queued_for_ns() == 1);

    SUBCASE("a start that cannot be worked out leaves the task created, "
            "pending") {
      StartPlanner refused
          = [](const TaskSnapshot&) -> core::Result<ChangeSet> {
        return core::Error{core::ErrorCode::invalid_argument, "no start"};
      };
      auto plain
          = f.store.create_task(diamond_request(ns, {{"n", 12}}), refused);
      REQUIRE(plain.ok());
      CHECK(plain->created);
      CHECK_FALSE(plain->started);
      CHECK(plain->snapshot.task.state == TaskState::pending);
      CHECK(f.store.task_state(plain->snapshot.task.id).value()
            == TaskState::pending);
      CHECK(f.store.history(plain->snapshot.task.id)->size() == 5);
    }
  }

  SUBCASE("create_tasks creates each task on its own terms, in order") {
    auto first = f.store.create_task(diamond_request(ns, {{"n", 30}}));
    REQUIRE_MESSAGE(first.ok(), first.error().to_string());
    StartPlanner start
        = [&](const TaskSnapshot& laid_out) -> core::Result<ChangeSet> {
      auto change = enqueue_change(laid_out, "a", now);
      change.task = TaskChange{TaskState::pending,
                               {TaskEvent::start, TaskEvent::ready_steps_found,
                                TaskEvent::steps_enqueued},
                               {}};
      return change;
    };
    auto bad = diamond_request(ns, {{"n", 32}});
    std::swap(bad.steps[0], bad.steps[3]);
    const std::vector<NewTask> requests{
        diamond_request(ns, {{"n", 31}}), bad, diamond_request(ns, {{"n", 30}}),
        diamond_request(ns, {{"n", 33}}), diamond_request(ns, {{"n", 33}})};
    auto created = f.store.create_tasks(requests, start);
    REQUIRE(created.size() == 5);
    REQUIRE_MESSAGE(created[0].ok(), created[0].error().to_string());
    CHECK(created[0]->created);
    CHECK(created[0]->started);
    CHECK(created[0]->snapshot.task.context == nlohmann::json{{"n", 31}});
    REQUIRE_FALSE(created[1].ok());
    CHECK(created[1].error().code() == core::ErrorCode::invalid_argument);
    REQUIRE(created[2].ok());
    CHECK_FALSE(created[2]->created);
    CHECK(created[2]->snapshot.task.id == first->snapshot.task.id);
    CHECK(created[2]->snapshot.task.state == TaskState::pending);
    REQUIRE_MESSAGE(created[3].ok(), created[3].error().to_string());
    CHECK(created[3]->created);
    REQUIRE(created[4].ok());
    CHECK_FALSE(created[4]->created);
    CHECK(created[4]->snapshot.task.id == created[3]->snapshot.task.id);
    for (int i : {0, 3}) {
      const auto& id = created[i]->snapshot.task.id;
      auto loaded = f.store.load(id);
      REQUIRE(loaded.ok());
      CHECK(loaded->task.state == TaskState::steps_in_process);
      CHECK(loaded->find_step("a")->state == StepState::enqueued);
      CHECK(loaded->steps.size() == 4);
      CHECK(loaded->find_step("d")->parents.size() == 2);
      CHECK(f.store.history(id)->size() == 9);
    }
    // The first task is as it was: the batch wrote nothing of it.
    CHECK(f.store.history(first->snapshot.task.id)->size() == 5);
    if (f.store.sends_with_outbox()) {
      auto outbox = f.store.take_outbox(1000);
      REQUIRE(outbox.ok());
      CHECK(std::count_if(outbox->begin(), outbox->end(),
                          [&](const auto& e) {
                            return e.outbound.queue
                                   == "worker_" + ns + "_queue";
                          })
            == 2);
    }
    CHECK(f.store.create_tasks({}, start).empty());
  }

  SUBCASE("a request with a dependency on a later or unknown step is "
          "refused") {
    auto request = diamond_request(ns, {{"n", 3}});
    std::swap(request.steps[0], request.steps[3]);
    auto created = f.store.create_task(request);
    REQUIRE_FALSE(created.ok());
    CHECK(created.error().code() == core::ErrorCode::invalid_argument);
    CHECK(created.error().message().find("'d' depends on 'b'")
          != std::string::npos);
  }

  SUBCASE("apply writes guarded transitions, history and the outbox "
          "together") {
    auto created = f.store.create_task(diamond_request(ns, {{"n", 4}}));
    REQUIRE(created.ok());
    const auto& snapshot = created->snapshot;
    auto change = enqueue_change(snapshot, "a", now);
    change.task = TaskChange{TaskState::pending,
                             {TaskEvent::start, TaskEvent::ready_steps_found,
                              TaskEvent::steps_enqueued},
                             {}};
    auto applied = f.store.apply(change);
    REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());
    CHECK(applied->task.state == TaskState::steps_in_process);
    auto a = applied->find_step("a");
    CHECK(a->state == StepState::enqueued);
    CHECK(a->attempts == 1);
    CHECK(a->enqueued_at.has_value());
    auto outbox = f.store.take_outbox(100);
    REQUIRE(outbox.ok());
    auto mine = std::count_if(outbox->begin(), outbox->end(), [&](auto& e) {
      return e.outbound.queue == "worker_" + ns + "_queue";
    });
    CHECK(mine == 1);
    auto history = f.store.history(snapshot.task.id);
    REQUIRE(history.ok());
    // 5 from create, 3 task events, 1 step event.
    REQUIRE(history->size() == 9);
    const auto& last = history->back();
    CHECK(last.step_id == a->id);
    CHECK(last.from_state == "pending");
    CHECK(last.to_state == "enqueued");
    CHECK(last.event == "enqueue");
    CHECK(last.node == "suite-node");

    SUBCASE("the same change again is stale and changes nothing") {
      auto again = f.store.apply(change);
      REQUIRE_FALSE(again.ok());
      CHECK(again.error().code() == core::ErrorCode::stale_transition);
      CHECK(again.error().message().find("expected pending")
            != std::string::npos);
      CHECK(f.store.history(snapshot.task.id)->size() == 9);
      auto outbox_after = f.store.take_outbox(100);
      CHECK(outbox_after->size() == outbox->size());
    }
    SUBCASE("a result of another attempt is stale") {
      ChangeSet result;
      result.task_id = snapshot.task.id;
      result.at = now;
      StepChange step;
      step.step_id = a->id;
      step.expected_state = StepState::enqueued;
      step.expected_attempts = 2;
      step.events = {StepEvent::enqueue_for_orchestration, StepEvent::complete};
      step.results = nlohmann::json{{"value", 4}};
      result.steps.push_back(step);
      auto late = f.store.apply(result);
      REQUIRE_FALSE(late.ok());
      CHECK(late.error().code() == core::ErrorCode::stale_transition);
      CHECK(late.error().message().find("attempt 1") != std::string::npos);
      result.steps[0].expected_attempts = 1;
      auto done = f.store.apply(result);
      REQUIRE_MESSAGE(done.ok(), done.error().to_string());
      auto completed = done->find_step("a");
      CHECK(completed->state == StepState::complete);
      CHECK(completed->results == nlohmann::json{{"value", 4}});
      CHECK(completed->completed_at.has_value());
    }
    SUBCASE("an event the state machine forbids is refused whole") {
      ChangeSet wrong;
      wrong.task_id = snapshot.task.id;
      wrong.at = now;
      wrong.task = TaskChange{
          TaskState::steps_in_process, {TaskEvent::step_completed}, {}};
      StepChange step;
      step.step_id = a->id;
      step.expected_state = StepState::enqueued;
      step.events = {StepEvent::retry};
      wrong.steps.push_back(step);
      auto refused = f.store.apply(wrong);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code() == core::ErrorCode::invalid_argument);
      auto reloaded = f.store.load(snapshot.task.id);
      CHECK(reloaded->task.state == TaskState::steps_in_process);
    }
    SUBCASE("the outbox hands entries out until they are removed") {
      std::vector<int64_t> ids;
      for (const auto& entry : *outbox)
        ids.push_back(entry.id);
      REQUIRE(f.store.remove_outbox(ids).ok());
      auto left = f.store.take_outbox(100);
      for (const auto& entry : *left)
        CHECK(std::find(ids.begin(), ids.end(), entry.id) == ids.end());
    }
  }

  SUBCASE("a change decided on an outdated snapshot is refused whole") {
    auto created = f.store.create_task(diamond_request(ns, {{"n", 10}}));
    REQUIRE(created.ok());
    const auto& snapshot = created->snapshot;
    CHECK(snapshot.task.revision == 0);
    // Two decisions on the same snapshot, about different steps.
    auto first = enqueue_change(snapshot, "a", now);
    first.expected_revision = snapshot.task.revision;
    auto second = enqueue_change(snapshot, "b", now);
    second.expected_revision = snapshot.task.revision;
    auto applied = f.store.apply(first);
    REQUIRE(applied.ok());
    CHECK(applied->task.revision == 1);
    auto refused = f.store.apply(second);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code() == core::ErrorCode::stale_transition);
    CHECK(refused.error().message().find("changed since") != std::string::npos);
    auto reloaded = f.store.load(snapshot.task.id);
    CHECK(reloaded->task.revision == 1);
    CHECK(reloaded->find_step("b")->state == StepState::pending);
  }

  SUBCASE("a batch applies each change set on its own terms") {
    auto first = f.store.create_task(diamond_request(ns, {{"n", 5}}));
    auto second = f.store.create_task(diamond_request(ns, {{"n", 6}}));
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    auto stale = enqueue_change(first->snapshot, "a", now);
    stale.steps[0].expected_state = StepState::enqueued;
    auto results = f.store.apply_batch(
        {stale, enqueue_change(second->snapshot, "a", now)});
    REQUIRE(results.size() == 2);
    CHECK_FALSE(results[0].ok());
    REQUIRE(results[1].ok());
    CHECK(results[1]->find_step("a")->state == StepState::enqueued);
    CHECK(f.store.load(first->snapshot.task.id)->find_step("a")->state
          == StepState::pending);
  }

  SUBCASE("due work: retries, overdue steps, stale tasks") {
    auto created = f.store.create_task(diamond_request(ns, {{"n", 7}}));
    REQUIRE(created.ok());
    const auto id = created->snapshot.task.id;
    auto enqueue = enqueue_change(created->snapshot, "a", now);
    enqueue.task = TaskChange{TaskState::pending,
                              {TaskEvent::start, TaskEvent::ready_steps_found,
                               TaskEvent::steps_enqueued},
                              {}};
    REQUIRE(f.store.apply(enqueue).ok());
    auto overdue = [&](Clock::time_point at) {
      auto found = f.store.overdue_steps(at, 5s, 1000);
      REQUIRE(found.ok());
      return std::any_of(found->begin(), found->end(), [&](auto& o) {
        return o.task_id == id && o.attempts == 1;
      });
    };
    CHECK_FALSE(overdue(now + 34s));
    CHECK(overdue(now + 35s));

    // A failed attempt waits for its retry.
    ChangeSet failed;
    failed.task_id = id;
    failed.at = now + 1s;
    StepChange step;
    step.step_id = step_id(created->snapshot, "a");
    step.expected_state = StepState::enqueued;
    step.expected_attempts = 1;
    step.events = {StepEvent::enqueue_as_error_for_orchestration,
                   StepEvent::wait_for_retry};
    step.last_error = nlohmann::json{{"message", "boom"}, {"retryable", true}};
    step.next_retry_at = std::optional<TimePoint>{now + 10s};
    failed.steps.push_back(step);
    failed.task
        = TaskChange{TaskState::steps_in_process, {TaskEvent::step_failed}, {}};
    auto waiting = f.store.apply(failed);
    REQUIRE_MESSAGE(waiting.ok(), waiting.error().to_string());
    CHECK(waiting->task.state == TaskState::waiting_for_retry);
    auto due = [&](Clock::time_point at) {
      auto found = f.store.due_retries(at, 1000);
      REQUIRE(found.ok());
      return std::find(found->begin(), found->end(), id) != found->end();
    };
    CHECK_FALSE(due(now + 9s));
    CHECK(due(now + 10s));
    CHECK_FALSE(overdue(now + 1h));

    StalenessLimits limits;
    limits.waiting_for_retry = 30min;
    auto stale = [&](Clock::time_point at) {
      auto found = f.store.stale_tasks(at, limits, 1000);
      REQUIRE(found.ok());
      return std::find(found->begin(), found->end(), id) != found->end();
    };
    CHECK_FALSE(stale(now + 29min));
    CHECK(stale(now + 31min));
    // Stale by its state and by its age at once: listed once.
    auto both = f.store.stale_tasks(now + 25h, limits, 1000);
    REQUIRE(both.ok());
    CHECK(std::count(both->begin(), both->end(), id) == 1);
  }

  SUBCASE("a dead-letter entry keeps the task as it was, and is resolved") {
    auto created = f.store.create_task(diamond_request(ns, {{"n", 8}}));
    REQUIRE(created.ok());
    ChangeSet give_up;
    give_up.task_id = created->snapshot.task.id;
    give_up.at = now;
    give_up.task = TaskChange{TaskState::pending, {TaskEvent::cancel}, {}};
    give_up.dead_letter = DeadLetterDraft{DeadLetterReason::manual, "test"};
    auto applied = f.store.apply(give_up);
    REQUIRE(applied.ok());
    CHECK(applied->task.state == TaskState::cancelled);
    CHECK(applied->task.completed_at.has_value());
    CHECK(*f.store.task_state(give_up.task_id) == TaskState::cancelled);
    auto entries = f.store.dead_letters(DeadLetterResolution::pending, 1000);
    REQUIRE(entries.ok());
    auto entry = std::find_if(entries->begin(), entries->end(), [&](auto& e) {
      return e.task_id == created->snapshot.task.id;
    });
    REQUIRE(entry != entries->end());
    CHECK(entry->original_state == "pending");
    CHECK(entry->snapshot.at("state") == "pending");
    CHECK(entry->snapshot.at("steps").size() == 4);
    auto resolved = f.store.resolve_dead_letter(
        entry->id, DeadLetterResolution::cancelled, "not needed", "alice");
    REQUIRE(resolved.ok());
    CHECK(resolved->resolution == DeadLetterResolution::cancelled);
    CHECK(resolved->resolved_by == "alice");
    CHECK(
        f.store.resolve_dead_letter(-1, DeadLetterResolution::cancelled, "", "")
            .error()
            .code()
        == core::ErrorCode::not_found);
  }

  SUBCASE("a task keeps one pending dead-letter entry") {
    auto created = f.store.create_task(diamond_request(ns, {{"n", 9}}));
    REQUIRE(created.ok());
    const auto id = created->snapshot.task.id;
    auto give_up = [&](TaskState from, TaskEvent event) {
      ChangeSet out;
      out.task_id = id;
      out.at = now;
      out.task = TaskChange{from, {event}, {}};
      out.dead_letter = DeadLetterDraft{DeadLetterReason::manual, "test"};
      return out;
    };
    REQUIRE(f.store.apply(give_up(TaskState::pending, TaskEvent::start)).ok());
    // The second change applies; its record joins the pending one.
    auto second
        = f.store.apply(give_up(TaskState::initializing, TaskEvent::cancel));
    REQUIRE_MESSAGE(second.ok(), second.error().to_string());
    CHECK(second->task.state == TaskState::cancelled);
    auto count = [&](DeadLetterResolution resolution) {
      auto entries = f.store.dead_letters(resolution, 100000);
      REQUIRE(entries.ok());
      return std::count_if(entries->begin(), entries->end(), [&](auto& e) {
        return e.task_id == id;
      });
    };
    CHECK(count(DeadLetterResolution::pending) == 1);
    auto entries = f.store.dead_letters(DeadLetterResolution::pending, 100000);
    auto mine = std::find_if(entries->begin(), entries->end(), [&](auto& e) {
      return e.task_id == id;
    });
    REQUIRE(f.store
                .resolve_dead_letter(mine->id,
                                     DeadLetterResolution::manually_resolved,
                                     "looked at it", "bob")
                .ok());
    CHECK(count(DeadLetterResolution::pending) == 0);
    CHECK(count(DeadLetterResolution::manually_resolved) == 1);
  }

  SUBCASE("tasks are listed newest first, filtered and paged") {
    for (int i = 0; i < 5; ++i)
      REQUIRE(f.store.create_task(diamond_request(ns, {{"list", i}})).ok());
    TaskQuery query;
    query.namespace_name = ns;
    query.limit = 2;
    auto page = f.store.list_tasks(query);
    REQUIRE(page.ok());
    CHECK(page->total == 5);
    REQUIRE(page->tasks.size() == 2);
    CHECK(page->tasks[0].context == nlohmann::json{{"list", 4}});
    query.offset = 4;
    page = f.store.list_tasks(query);
    REQUIRE(page->tasks.size() == 1);
    CHECK(page->tasks[0].context == nlohmann::json{{"list", 0}});
    query.state = TaskState::complete;
    query.offset = 0;
    CHECK(f.store.list_tasks(query)->total == 0);
  }
}
