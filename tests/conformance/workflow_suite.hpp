#pragma once

// The workflow suite: the example templates driven to completion through a
// task store with the orchestration planner, once per store. Apply it like
// the task store suite (same fixture requirements):
//
//   TEST_CASE_TEMPLATE_APPLY(workflow_suite, std::tuple<InMemoryFixture>);
//
// Workers are played by a function from a step message to a result, so the
// suite checks orchestration alone: dispatch order, retries and backoff,
// duplicate and stale results.

#include "config/template_catalog.hpp"
#include "orchestration/task_factory.hpp"
#include "orchestration/workflow_planner.hpp"
#include "tests/support/step_workers.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tasker::testing {

/// Drives tasks through a store: takes their step messages from the
/// outbox, answers them with `worker`, applies the planner's decisions.
template <class Store>
class WorkflowDriver {
 public:
  using Worker = std::function<channels::StepResult(const nlohmann::json&)>;

  // Stores keep times to the microsecond: so does the driver.
  WorkflowDriver(Store& store, orchestration::TimePoint start)
      : store_(store),
        now_(std::chrono::time_point_cast<std::chrono::microseconds>(start)) {}

  orchestration::TimePoint now() const {
    return now_;
  }

  void advance(std::chrono::milliseconds by) {
    now_ += by;
  }

  /// Creates and starts a task of `tmpl`.
  orchestration::TaskSnapshot start(const config::TaskTemplate& tmpl,
                                    const nlohmann::json& context,
                                    const std::string& key) {
    orchestration::TaskOptions options;
    options.idempotency_key = key;
    auto request = orchestration::make_new_task(tmpl, context, options);
    REQUIRE_MESSAGE(request.ok(), request.error().to_string());
    auto created = store_.create_task(*request);
    REQUIRE_MESSAGE(created.ok(), created.error().to_string());
    auto change = orchestration::plan_start(created->snapshot, context_at());
    REQUIRE_MESSAGE(change.ok(), change.error().to_string());
    return apply(*change);
  }

  /// Takes the step messages of task `task_id` out of the outbox.
  std::vector<nlohmann::json> take_messages(const std::string& task_id) {
    auto entries = store_.take_outbox(100000);
    REQUIRE(entries.ok());
    std::vector<int64_t> mine;
    std::vector<nlohmann::json> messages;
    for (const auto& entry : *entries) {
      auto payload = nlohmann::json::parse(entry.outbound.message.payload);
      if (payload.value("task_id", "") != task_id)
        continue;
      mine.push_back(entry.id);
      messages.push_back(std::move(payload));
    }
    REQUIRE(store_.remove_outbox(mine).ok());
    return messages;
  }

  /// Answers every step message of task `task_id` waiting in the outbox,
  /// once each, in order; returns how many.
  int answer(const std::string& task_id, const Worker& worker) {
    auto messages = take_messages(task_id);
    for (const auto& message : messages) {
      dispatched.push_back(message.at("step_name"));
      check_parents_done(message);
      auto result = worker(message);
      auto snapshot = store_.load(task_id);
      REQUIRE(snapshot.ok());
      auto change
          = orchestration::plan_step_result(*snapshot, result, context_at());
      if (!change.ok()
          && change.error().code() == core::ErrorCode::stale_transition) {
        ++stale_results;
        continue;
      }
      REQUIRE_MESSAGE(change.ok(), change.error().to_string());
      apply(*change);
    }
    return static_cast<int>(messages.size());
  }

  /// Answers until no message of the task is left; returns the task.
  orchestration::TaskSnapshot run(const std::string& task_id,
                                  const Worker& worker) {
    while (answer(task_id, worker) > 0) {
    }
    auto snapshot = store_.load(task_id);
    REQUIRE(snapshot.ok());
    return *snapshot;
  }

  /// Dispatches what is due at the current time (the retry sweep).
  void sweep_due(const std::string& task_id) {
    auto due = store_.due_retries(now_, 100000);
    REQUIRE(due.ok());
    for (const auto& id : *due) {
      if (id != task_id)
        continue;
      auto snapshot = store_.load(id);
      REQUIRE(snapshot.ok());
      orchestration::ChangeSet change;
      REQUIRE(
          orchestration::plan_progress(*snapshot, change, context_at()).ok());
      apply(change);
    }
  }

  orchestration::PlanContext context_at() const {
    return {now_, "suite-orchestrator", 0.5};
  }

  /// Applies a change set the test planned itself.
  orchestration::TaskSnapshot
  apply_planned(core::Result<orchestration::ChangeSet> change) {
    REQUIRE_MESSAGE(change.ok(), change.error().to_string());
    return apply(*change);
  }

  /// Takes the task's messages out of the outbox unanswered (a worker that
  /// died with them); returns how many.
  int drop(const std::string& task_id) {
    return static_cast<int>(take_messages(task_id).size());
  }

  /// Step names in dispatch order, and those seen complete.
  std::vector<std::string> dispatched;
  std::set<std::string> completed;
  /// Results the planner found stale (duplicate, late, cancelled).
  int stale_results = 0;

 private:
  // Applies `change` and notes the steps dependents may now follow.
  orchestration::TaskSnapshot apply(const orchestration::ChangeSet& change) {
    auto applied = store_.apply(change);
    REQUIRE_MESSAGE(applied.ok(), applied.error().to_string());
    for (const auto& step : applied->steps)
      if (orchestration::satisfies_dependency(step.state))
        completed.insert(step.name);
    return *applied;
  }

  void check_parents_done(const nlohmann::json& message) {
    for (const auto& item : message.at("dependency_results").items())
      CHECK_MESSAGE(completed.count(item.key()) == 1,
                    message.at("step_name") << " dispatched before its parent "
                                            << item.key() << " completed");
  }

  Store& store_;
  orchestration::TimePoint now_;
};

/// The example templates, by name.
inline const config::TaskTemplate& example_template(const std::string& name) {
  static const auto catalog = [] {
    auto loaded = config::TemplateCatalog::load(std::string{TASKER_SOURCE_DIR}
                                                + "/examples/templates");
    REQUIRE_MESSAGE(loaded.ok(), loaded.error().to_string());
    return *loaded;
  }();
  for (const auto& tmpl : catalog.templates())
    if (tmpl.name == name)
      return tmpl;
  FAIL("no example template " << name);
  throw std::logic_error("unreachable");
}

} // namespace tasker::testing

TEST_CASE_TEMPLATE_DEFINE("workflows", Fixture, workflow_suite) {
  using namespace tasker;
  using namespace tasker::orchestration;
  using namespace tasker::testing;
  using namespace std::chrono_literals;
  Fixture f;
  WorkflowDriver driver{f.store, Clock::now()};

  SUBCASE("every example completes, each step once, in dependency order") {
    const std::map<std::string, nlohmann::json> examples{
        {"mathematical_sequence", {{"even_number", 6}}},
        {"diamond_pattern", {{"even_number", 6}}},
        {"complex_dag", {{"even_number", 6}}},
        {"hierarchical_tree", {{"even_number", 6}}}};
    for (const auto& [name, context] : examples) {
      CAPTURE(name);
      const auto& tmpl = example_template(name);
      WorkflowDriver one{f.store, Clock::now()};
      auto started = one.start(tmpl, context, f.unique(name));
      CHECK(started.task.state == TaskState::steps_in_process);
      auto done = one.run(started.task.id, succeed);
      CHECK(done.task.state == TaskState::complete);
      CHECK(done.task.completed_at.has_value());
      CHECK(one.dispatched.size() == tmpl.steps.size());
      std::set<std::string> unique{one.dispatched.begin(),
                                   one.dispatched.end()};
      CHECK(unique.size() == tmpl.steps.size());
      for (const auto& step : done.steps) {
        CHECK(step.state == StepState::complete);
        CHECK(step.attempts == 1);
      }
      auto history = f.store.history(done.task.id);
      REQUIRE(history.ok());
      CHECK(history->back().to_state == "complete");
    }
  }

  SUBCASE("a failing step retries with its backoff, then errors the task") {
    const auto& tmpl = example_template("diamond_pattern");
    auto started = driver.start(tmpl, {{"even_number", 4}}, f.unique("fail"));
    const auto id = started.task.id;
    auto left_fails = [](const nlohmann::json& message) {
      if (message.at("step_name") != "diamond_branch_left")
        return succeed(message);
      channels::StepResult result;
      result.task_id = message.at("task_id");
      result.step_id = message.at("step_id");
      result.attempt = message.at("attempt");
      result.error_message = "card declined";
      result.error_type = "handler_error";
      result.retryable = true;
      return result;
    };
    driver.run(id, left_fails);
    auto waiting = f.store.load(id);
    REQUIRE(waiting.ok());
    CHECK(waiting->task.state == TaskState::waiting_for_retry);
    auto left = waiting->find_step("diamond_branch_left");
    CHECK(left->state == StepState::waiting_for_retry);
    CHECK(left->attempts == 1);
    CHECK(left->last_error.at("message") == "card declined");
    // Exponential from 1000 ms: 1 s after attempt 1, 2 s after attempt 2.
    REQUIRE(left->next_retry_at.has_value());
    CHECK(*left->next_retry_at == driver.now() + 1s);
    driver.advance(999ms);
    driver.sweep_due(id);
    CHECK(driver.answer(id, left_fails) == 0);
    driver.advance(1ms);
    driver.sweep_due(id);
    CHECK(driver.answer(id, left_fails) == 1);
    auto second = f.store.load(id)->find_step("diamond_branch_left");
    CHECK(second->attempts == 2);
    CHECK(*second->next_retry_at == driver.now() + 2s);
    driver.advance(2s);
    driver.sweep_due(id);
    CHECK(driver.answer(id, left_fails) == 1);
    auto failed = f.store.load(id);
    CHECK(failed->find_step("diamond_branch_left")->state == StepState::error);
    CHECK(failed->find_step("diamond_branch_left")->attempts == 3);
    CHECK(failed->find_step("diamond_end")->state == StepState::pending);
    CHECK(failed->task.state == TaskState::error);
    auto letters = f.store.dead_letters(DeadLetterResolution::pending, 100000);
    REQUIRE(letters.ok());
    CHECK(std::any_of(letters->begin(), letters->end(), [&](auto& entry) {
      return entry.task_id == id
             && entry.reason == DeadLetterReason::max_retries_exceeded;
    }));
  }

  SUBCASE("a non-retryable failure errors the task at once") {
    const auto& tmpl = example_template("mathematical_sequence");
    auto started = driver.start(tmpl, {{"even_number", 2}}, f.unique("nr"));
    auto done = driver.run(started.task.id, [](const nlohmann::json& m) {
      auto result = succeed(m);
      result.success = false;
      result.error_message = "bad input";
      result.retryable = false;
      return result;
    });
    CHECK(done.task.state == TaskState::error);
    CHECK(driver.dispatched.size() == 1);
    CHECK(done.steps.front().attempts == 1);
  }

  SUBCASE("a duplicate result and a stale one change nothing") {
    const auto& tmpl = example_template("mathematical_sequence");
    auto started = driver.start(tmpl, {{"even_number", 8}}, f.unique("dup"));
    const auto id = started.task.id;
    auto entries = f.store.take_outbox(100000);
    REQUIRE(entries.ok());
    nlohmann::json first;
    for (const auto& entry : *entries) {
      auto payload = nlohmann::json::parse(entry.outbound.message.payload);
      if (payload.value("task_id", "") == id)
        first = payload;
    }
    REQUIRE_FALSE(first.is_null());
    auto result = succeed(first);
    auto snapshot = f.store.load(id);
    auto change = plan_step_result(*snapshot, result, driver.context_at());
    REQUIRE(change.ok());
    REQUIRE(f.store.apply(*change).ok());
    auto history_before = f.store.history(id)->size();
    // The same result again: the step is complete, nothing to do.
    auto again
        = plan_step_result(*f.store.load(id), result, driver.context_at());
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code() == core::ErrorCode::stale_transition);
    // Decided on the old snapshot, the store's guard refuses it.
    CHECK(f.store.apply(*change).error().code()
          == core::ErrorCode::stale_transition);
    // A result of an attempt that is not the current one.
    auto next = f.store.load(id);
    auto second_step = next->steps.at(1);
    channels::StepResult stale;
    stale.task_id = id;
    stale.step_id = second_step.id;
    stale.attempt = second_step.attempts + 1;
    stale.success = true;
    stale.result_json = R"({"value": 1})";
    auto refused = plan_step_result(*next, stale, driver.context_at());
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code() == core::ErrorCode::stale_transition);
    CHECK(f.store.history(id)->size() == history_before);
  }

  SUBCASE("a context that breaks the input schema is refused, naming why") {
    auto request = make_new_task(example_template("mathematical_sequence"),
                                 {{"even_number", "six"}}, {});
    REQUIRE_FALSE(request.ok());
    CHECK(request.error().code() == core::ErrorCode::invalid_argument);
    CHECK(request.error().message().find("even_number") != std::string::npos);
  }

  SUBCASE("cancellation stops further dispatches") {
    const auto& tmpl = example_template("mathematical_sequence");
    auto started = driver.start(tmpl, {{"even_number", 6}}, f.unique("cxl"));
    const auto id = started.task.id;
    auto cancelled = driver.apply_planned(
        plan_cancel(*f.store.load(id), driver.context_at(), "not needed"));
    CHECK(cancelled.task.state == TaskState::cancelled);
    for (const auto& step : cancelled.steps)
      CHECK(step.state == StepState::cancelled);
    // The first step's worker answers after the cancel: stale, and nothing
    // follows.
    CHECK(driver.answer(id, succeed) == 1);
    CHECK(driver.stale_results == 1);
    CHECK(driver.answer(id, succeed) == 0);
    CHECK(f.store.load(id)->task.state == TaskState::cancelled);
    CHECK_FALSE(
        plan_cancel(*f.store.load(id), driver.context_at(), "again").ok());
  }

  SUBCASE("a timed-out step is dispatched again") {
    const auto& tmpl = example_template("diamond_pattern");
    auto started = driver.start(tmpl, {{"even_number", 6}}, f.unique("tmo"));
    const auto id = started.task.id;
    // The worker dies with the first step (timeout 30 s).
    CHECK(driver.drop(id) == 1);
    auto overdue = [&] {
      auto found = f.store.overdue_steps(driver.now(), 5s, 100000);
      REQUIRE(found.ok());
      std::vector<OverdueStep> mine;
      for (const auto& o : *found)
        if (o.task_id == id)
          mine.push_back(o);
      return mine;
    };
    driver.advance(34s);
    CHECK(overdue().empty());
    driver.advance(1s);
    auto late = overdue();
    REQUIRE(late.size() == 1);
    auto timed_out = driver.apply_planned(
        plan_timeout(*f.store.load(id), late[0].step_id, late[0].attempts,
                     driver.context_at()));
    auto start_step = timed_out.find_step("diamond_start");
    CHECK(start_step->state == StepState::waiting_for_retry);
    CHECK(start_step->last_error.at("kind") == "timeout");
    // Its default backoff: 1 s, then attempt 2 runs and the task finishes.
    driver.advance(1s);
    driver.sweep_due(id);
    auto done = driver.run(id, succeed);
    CHECK(done.task.state == TaskState::complete);
    CHECK(done.find_step("diamond_start")->attempts == 2);
  }

  SUBCASE("the stale sweep dead-letters a task stuck past its limits") {
    const auto& tmpl = example_template("diamond_pattern");
    auto started = driver.start(tmpl, {{"even_number", 6}}, f.unique("stl"));
    const auto id = started.task.id;
    StalenessLimits limits;
    limits.steps_in_process = 30min;
    auto stale = [&] {
      auto found = f.store.stale_tasks(driver.now(), limits, 100000);
      REQUIRE(found.ok());
      return std::find(found->begin(), found->end(), id) != found->end();
    };
    driver.advance(29min);
    CHECK_FALSE(stale());
    driver.advance(2min);
    REQUIRE(stale());
    auto expired = driver.apply_planned(
        plan_expire(*f.store.load(id), driver.context_at(),
                    "steps_in_process for more than 30 min"));
    CHECK(expired.task.state == TaskState::error);
    auto letters = f.store.dead_letters(DeadLetterResolution::pending, 100000);
    REQUIRE(letters.ok());
    auto entry = std::find_if(letters->begin(), letters->end(), [&](auto& e) {
      return e.task_id == id;
    });
    REQUIRE(entry != letters->end());
    CHECK(entry->reason == DeadLetterReason::staleness_timeout);
    CHECK(entry->original_state == "steps_in_process");
    CHECK(entry->snapshot.at("steps").size() == 4);
    CHECK(entry->notes.find("30 min") != std::string::npos);
  }

  SUBCASE("an operator resets, resolves or completes a failed step") {
    const auto& tmpl = example_template("diamond_pattern");
    auto started = driver.start(tmpl, {{"even_number", 2}}, f.unique("man"));
    const auto id = started.task.id;
    auto right_fails = [](const nlohmann::json& message) {
      auto result = succeed(message);
      if (message.at("step_name") == "diamond_branch_right") {
        result.success = false;
        result.error_message = "needs a human";
        result.retryable = false;
      }
      return result;
    };
    auto failed = driver.run(id, right_fails);
    REQUIRE(failed.task.state == TaskState::error);
    SUBCASE("reset for retry") {
      auto reset = driver.apply_planned(plan_step_action(
          failed, "diamond_branch_right", StepAction::reset_for_retry, {},
          driver.context_at()));
      CHECK(reset.task.state == TaskState::steps_in_process);
      CHECK(reset.find_step("diamond_branch_right")->state
            == StepState::enqueued);
      CHECK(reset.find_step("diamond_branch_right")->attempts == 1);
      auto done = driver.run(id, succeed);
      CHECK(done.task.state == TaskState::complete);
    }
    SUBCASE("complete manually with a result") {
      auto completed = driver.apply_planned(plan_step_action(
          failed, "diamond_branch_right", StepAction::complete_manually,
          {{"value", 100}}, driver.context_at()));
      CHECK(completed.find_step("diamond_branch_right")->results
            == nlohmann::json{{"value", 100}});
      auto done = driver.run(id, succeed);
      CHECK(done.task.state == TaskState::complete);
      // The end step saw the operator's result: 1 + left (2) + 100.
      CHECK(done.find_step("diamond_end")->results.at("value") == 103);
    }
    SUBCASE("resolve manually") {
      driver.apply_planned(plan_step_action(failed, "diamond_branch_right",
                                            StepAction::resolve_manually, {},
                                            driver.context_at()));
      auto done = driver.run(id, succeed);
      CHECK(done.task.state == TaskState::complete);
      CHECK(done.find_step("diamond_branch_right")->state
            == StepState::resolved_manually);
    }
    CHECK(plan_step_action(*f.store.load(id), "no_such_step",
                           StepAction::resolve_manually, {},
                           driver.context_at())
              .error()
              .code()
          == core::ErrorCode::not_found);
  }
}
