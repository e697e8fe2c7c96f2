// The task store and workflow suites against the in-memory store.

#include "orchestration/in_memory_task_store.hpp"
#include "tests/conformance/task_store_suite.hpp"
#include "tests/conformance/workflow_suite.hpp"

#include <string>
#include <string_view>
#include <tuple>

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
