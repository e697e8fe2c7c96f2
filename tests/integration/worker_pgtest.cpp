#include "tests/integration/pg_admin.hpp"
#include "tests/integration/worker_suite.hpp"

#include <doctest/doctest.h>

namespace tasker::testing {
namespace {

config::NodeConfig pgmq_config(const std::string& url) {
  config::NodeConfig config;
  config.messaging_backend = config::MessagingBackend::pgmq;
  config.database.url = url;
  config.database.pool_size = 4;
  return config;
}

TEST_CASE("a worker bootstraps from templates and executes steps on PGMQ") {
  ScratchDatabase db{"worker"};
  check_worker_executes_steps(pgmq_config(db.url()));
}

TEST_CASE("a worker killed with SIGKILL mid-step loses nothing on PGMQ") {
  ScratchDatabase db{"worker_kill"};
  check_killed_worker_loses_nothing(
      pgmq_config(db.url()),
      {{"TASKER_MESSAGING_BACKEND", "pgmq"}, {"DATABASE_URL", db.url()}});
}

} // namespace
} // namespace tasker::testing
