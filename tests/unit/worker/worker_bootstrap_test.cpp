#include "config/template_catalog.hpp"
#include "tests/support/temp_dir.hpp"
#include "worker/worker_bootstrap.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace tasker;
using namespace tasker::worker;

namespace {

std::string template_of(const std::string& ns, const std::string& callable) {
  return "name: t_" + ns + "\nnamespace_name: " + ns
         + "\nversion: \"1.0.0\"\nsteps:\n  - name: only\n    handler:\n"
           "      callable: "
         + callable + "\n";
}

// Templates of namespaces billing, reports and search in a temporary
// directory; search uses a callable no worker has.
struct Templates {
  testing::TempDir dir{"tasker_bootstrap"};
  config::NodeConfig config;
  config::TemplateCatalog catalog;
  HandlerRegistry registry;

  Templates() : catalog{load(dir)} {
    config.template_path = dir.path().string();
    auto made = make_registry(config.worker);
    REQUIRE(made.ok());
    registry = **made;
  }

  static config::TemplateCatalog load(testing::TempDir& dir) {
    dir.write("billing.yaml", template_of("billing", "tasker.square"));
    dir.write("reports.yaml", template_of("reports", "tasker.noop"));
    dir.write("search.yaml", template_of("search", "search.index"));
    auto catalog = config::TemplateCatalog::load(dir.path());
    REQUIRE(catalog.ok());
    return *catalog;
  }
};

TEST_CASE_FIXTURE(Templates, "a worker serves every namespace of the "
                             "templates by default") {
  config.worker.max_concurrent_steps = 7;
  auto plan = plan_worker(config, catalog, registry);
  REQUIRE(plan.ok());
  CHECK(plan->namespaces
        == std::vector<std::string>{"billing", "reports", "search"});
  CHECK(plan->queues
        == std::vector<std::string>{"worker_billing_queue",
                                    "worker_reports_queue",
                                    "worker_search_queue"});
  CHECK(plan->concurrency.at("reports") == 7);
  REQUIRE(plan->unserved_steps.size() == 1);
  CHECK(plan->unserved_steps[0].find("step 'only' of search/t_search 1.0.0")
        != std::string::npos);
  CHECK(plan->unserved_steps[0].find("callable 'search.index'")
        != std::string::npos);
}

TEST_CASE_FIXTURE(Templates, "a worker serves the configured namespaces, "
                             "with their own concurrency") {
  config.worker.namespaces = {"reports", "billing"};
  config.worker.namespace_concurrency = {"reports=1"};
  auto plan = plan_worker(config, catalog, registry);
  REQUIRE(plan.ok());
  CHECK(plan->namespaces == std::vector<std::string>{"billing", "reports"});
  CHECK(plan->concurrency.at("reports") == 1);
  CHECK(plan->concurrency.at("billing") == 10);
  CHECK(plan->unserved_steps.empty());
}

TEST_CASE_FIXTURE(Templates, "a namespace no template declares stops the "
                             "worker, naming it") {
  config.worker.namespaces = {"billing", "shipping"};
  auto plan = plan_worker(config, catalog, registry);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().message()
        == "worker.namespaces names 'shipping', which no template in '"
               + config.template_path
               + "' declares (found: billing, reports, search)");
  config.worker.namespaces = {"billing"};
  config.worker.namespace_concurrency = {"reports=2"};
  auto override_elsewhere = plan_worker(config, catalog, registry);
  REQUIRE_FALSE(override_elsewhere.ok());
  CHECK(override_elsewhere.error().message()
        == "worker.namespace_concurrency: 'reports' is not a namespace this "
           "worker serves (serves: billing)");
}

TEST_CASE("exec handlers come from the configuration; a bad item is named") {
  config::WorkerConfig config;
  config.exec_handlers = {"shop.charge=python3 handlers/charge.py --fast"};
  auto registry = make_registry(config);
  REQUIRE(registry.ok());
  CHECK((*registry)->find("shop.charge") != nullptr);
  CHECK((*registry)->find("tasker.square") != nullptr);
  config.exec_handlers = {"shop.charge=python3 'unclosed"};
  auto bad = make_registry(config);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().starts_with("worker.exec_handlers: "));
  CHECK(bad.error().message().find("unterminated single quote")
        != std::string::npos);
  config.exec_handlers = {"shop.charge=./charge", "shop.charge=./other"};
  auto twice = make_registry(config);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message()
        == "worker.exec_handlers: handler 'shop.charge' is registered "
           "already");
}

TEST_CASE("an exec handler for a built-in callable replaces the built-in") {
  config::WorkerConfig config;
  config.exec_handlers = {
      R"(tasker.square=/bin/sh -c "cat > /dev/null; echo '{\"result\": 5}'")"};
  auto registry = make_registry(config);
  REQUIRE(registry.ok());
  channels::StepMessage step;
  step.task_id = "t";
  step.step_id = "s";
  step.attempt = 1;
  step.callable = "tasker.square";
  std::stop_source stop;
  auto outcome = (*registry)->run(StepInput{
      step, std::chrono::steady_clock::now() + std::chrono::seconds{20},
      stop.get_token()});
  CHECK(outcome.success);
  CHECK(outcome.result == 5);
}

TEST_CASE_FIXTURE(Templates, "each queue's prefetch is twice its namespace's "
                             "concurrency on RabbitMQ and the concurrency in "
                             "memory unless configured") {
  config.worker.namespaces = {"billing", "reports"};
  config.worker.namespace_concurrency = {"reports=2"};
  config.rabbitmq.queue_prefetch = {"worker_billing_queue=50"};
  config.in_memory.queue_prefetch = {"worker_reports_queue=7"};
  auto plan = plan_worker(config, catalog, registry);
  REQUIRE(plan.ok());
  auto provider_config = provider_config_for(config, *plan);
  CHECK(provider_config.rabbitmq.queue_prefetch
        == std::vector<std::string>{"worker_billing_queue=50",
                                    "worker_reports_queue=4"});
  CHECK(provider_config.in_memory.queue_prefetch
        == std::vector<std::string>{"worker_reports_queue=7",
                                    "worker_billing_queue=10"});
}

} // namespace
