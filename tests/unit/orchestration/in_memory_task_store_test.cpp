// The task store and workflow suites against the in-memory store, and its
// retention of finished tasks.

#include "orchestration/in_memory_task_store.hpp"
#include "tests/conformance/task_store_suite.hpp"
#include "tests/conformance/workflow_suite.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

struct InMemoryStoreFixture {
  tasker::orchestration::InMemoryTaskStore store;
  int next = 0;

  std::string unique(std::string_view tag) {
    return std::string{tag} + std::to_string(++next);
  }
};

} // namespace

TEST_CASE_TEMPLATE_APPLY(task_store_suite, std::tuple<InMemoryStoreFixture>);
TEST_CASE_TEMPLATE_APPLY(workflow_suite, std::tuple<InMemoryStoreFixture>);

namespace {

using namespace tasker;
using namespace tasker::orchestration;

// Cancels a pending task: it finishes at once (with a dead letter pending
// when `investigate`).
void cancel(InMemoryTaskStore& store, const std::string& task_id,
            bool investigate = false) {
  ChangeSet change;
  change.task_id = task_id;
  change.at = Clock::now();
  change.task = TaskChange{TaskState::pending, {TaskEvent::cancel}, {}};
  if (investigate)
    change.dead_letter = DeadLetterDraft{DeadLetterReason::manual, "look"};
  REQUIRE(store.apply(change).ok());
}

std::string create(InMemoryTaskStore& store, int n) {
  auto created
      = store.create_task(testing::diamond_request("retention", {{"n", n}}));
  REQUIRE(created.ok());
  REQUIRE(created->created);
  return created->snapshot.task.id;
}

} // namespace

TEST_CASE("the in-memory store forgets the longest-finished tasks beyond "
          "its limit, never unfinished or investigated ones") {
  InMemoryTaskStore store{InMemoryTaskStoreOptions{3}};
  std::vector<std::string> ids;
  for (int n = 0; n < 8; ++n)
    ids.push_back(create(store, n));
  // 0 awaits investigation; 1..5 finish in order; 6 and 7 stay unfinished.
  cancel(store, ids[0], true);
  for (int n = 1; n <= 5; ++n)
    cancel(store, ids[n]);
  // Kept: 0 (investigated), 3, 4, 5 (the last three), 6, 7 (unfinished).
  for (int n : {1, 2}) {
    CAPTURE(n);
    CHECK(store.load(ids[n]).error().code() == core::ErrorCode::not_found);
    CHECK(store.history(ids[n]).error().code() == core::ErrorCode::not_found);
  }
  for (int n : {0, 3, 4, 5, 6, 7}) {
    CAPTURE(n);
    CHECK(store.load(ids[n]).ok());
  }
  auto page = store.list_tasks({std::nullopt, {}, {}, 100, 0});
  REQUIRE(page.ok());
  CHECK(page->total == 6);
  // A forgotten task's identity is free again: the same request creates a
  // new task; a kept one's still answers with the task.
  auto again
      = store.create_task(testing::diamond_request("retention", {{"n", 1}}));
  REQUIRE(again.ok());
  CHECK(again->created);
  CHECK(again->snapshot.task.id != ids[1]);
  auto kept
      = store.create_task(testing::diamond_request("retention", {{"n", 4}}));
  REQUIRE(kept.ok());
  CHECK_FALSE(kept->created);
  // The sweepers see the unfinished ones through the gaps.
  auto stale
      = store.stale_tasks(Clock::now() + std::chrono::hours{24 * 400}, {}, 100);
  REQUIRE(stale.ok());
  CHECK(stale->size() == 3); // 6, 7 and the new one
}

TEST_CASE("the in-memory store keeps every task with a limit of 0") {
  InMemoryTaskStore store{InMemoryTaskStoreOptions{0}};
  std::vector<std::string> ids;
  for (int n = 0; n < 50; ++n) {
    ids.push_back(create(store, n));
    cancel(store, ids.back());
  }
  for (const auto& id : ids)
    CHECK(store.load(id).ok());
}
