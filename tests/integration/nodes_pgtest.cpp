#include "tests/integration/nodes_suite.hpp"

namespace tasker::testing {
namespace {

TEST_CASE("a server and two workers complete every example on PGMQ through "
          "the REST API, across a killed worker and a restarted server") {
  ScratchDatabase db{"nodes"};
  check_nodes_complete_the_examples(
      {{"TASKER_MESSAGING_BACKEND", "pgmq"}, {"DATABASE_URL", db.url()}});
}

} // namespace
} // namespace tasker::testing
