// The worker's integration scenarios, run on each real provider (PGMQ in
// worker_pgtest.cpp, RabbitMQ in worker_rmqtest.cpp).
#pragma once

#include "channels/actor_system_setup.hpp"
#include "channels/message_json.hpp"
#include "config/node_config.hpp"
#include "config/queue_names.hpp"
#include "config/template_catalog.hpp"
#include "messaging/messaging_provider.hpp"
#include "tests/integration/test_servers.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "worker/worker_bootstrap.hpp"
#include "worker/worker_node.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tasker::testing {

using namespace std::chrono_literals;

/// A template of namespace `ns` whose steps the built-in handlers run.
inline std::string worker_test_template(const std::string& ns) {
  return "name: worker_test\nnamespace_name: " + ns
         + "\nversion: \"1.0.0\"\nsteps:\n"
           "  - name: square\n    handler:\n      callable: tasker.square\n"
           "      initialization:\n        input_key: n\n"
           "  - name: nap\n    handler:\n      callable: tasker.sleep\n"
           "    dependencies: [square]\n";
}

inline channels::StepMessage worker_test_step(const std::string& ns,
                                              const std::string& task_id,
                                              std::string callable,
                                              nlohmann::json context) {
  channels::StepMessage step;
  step.task_id = task_id;
  step.step_id = task_id + "-step";
  step.step_name = callable == "tasker.sleep" ? "nap" : "square";
  step.namespace_name = ns;
  step.task_name = "worker_test";
  step.task_version = "1.0.0";
  step.attempt = 1;
  step.callable = std::move(callable);
  if (step.callable == "tasker.square")
    step.initialization = {{"input_key", "n"}};
  step.context = std::move(context);
  step.timeout_seconds = 60;
  return step;
}

/// The handlers and plan of a worker with `config` (its templates loaded).
struct WorkerBoot {
  std::shared_ptr<worker::HandlerRegistry> registry;
  worker::WorkerPlan plan;
};

inline WorkerBoot plan_worker_for(const config::NodeConfig& config) {
  auto catalog = config::TemplateCatalog::load(config.template_path);
  REQUIRE_MESSAGE(catalog.ok(), catalog.error().to_string());
  auto registry = worker::make_registry(config.worker);
  REQUIRE_MESSAGE(registry.ok(), registry.error().to_string());
  auto plan = worker::plan_worker(config, *catalog, **registry);
  REQUIRE_MESSAGE(plan.ok(), plan.error().to_string());
  return {*registry, *plan};
}

/// Takes the step results on the results queue whose task id starts with
/// `prefix` (acking them), adding them to `into`.
inline void collect_results(messaging::MessagingProvider& provider,
                            const std::string& prefix,
                            std::vector<channels::StepResult>& into) {
  const std::string queue{config::kStepResultsQueue};
  auto got = provider.receive(queue, 100, 30s);
  REQUIRE(got.ok());
  for (const auto& message : *got) {
    REQUIRE(provider.ack(queue, message.id).ok());
    auto result = channels::step_result_from_json(message.payload);
    REQUIRE(result.ok());
    if (result->task_id.starts_with(prefix))
      into.push_back(*result);
  }
}

/// A worker bootstraps from templates (queues ensured and verified),
/// executes a backlog and then live steps, and sends every result once.
inline void check_worker_executes_steps(const config::NodeConfig& base) {
  TempDir dir{"tasker_worker"};
  auto ns = unique_name("wk");
  dir.write("worker_test.yaml", worker_test_template(ns));
  auto config = base;
  config.template_path = dir.path().string();
  config.worker.max_concurrent_steps = 4;
  config.worker.event_system.fallback_polling_interval_ms = 200;

  auto [registry, plan] = plan_worker_for(config);
  CHECK(plan.namespaces == std::vector<std::string>{ns});
  CHECK(plan.unserved_steps.empty());
  auto provider = messaging::MessagingProvider::from_config(
      worker::provider_config_for(config, plan));
  REQUIRE(provider.ok());
  auto queue = config::worker_queue_name(ns);
  CHECK_FALSE(*provider->queue_exists(queue));
  REQUIRE(worker::prepare_queues(*provider, plan).ok());
  CHECK(*provider->queue_exists(queue));

  auto send_steps = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      auto step = worker_test_step(ns, ns + "-task-" + std::to_string(i),
                                   "tasker.square", {{"n", i}});
      REQUIRE(
          provider->send(queue, {channels::to_json_text(step), {}, {}}).ok());
    }
  };
  send_steps(0, 30); // a backlog, read at start

  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  std::vector<channels::StepResult> results;
  {
    worker::WorkerNode node{sys, *provider, registry, plan, config};
    send_steps(30, 60); // live, by notification or push
    CHECK(eventually([&] {
      collect_results(*provider, ns, results);
      return results.size() >= 60;
    }));
    CHECK(eventually([&] {
      auto metrics = provider->metrics(queue);
      return metrics.ok() && metrics->depth == 0;
    }));
    caf::scoped_actor self{sys};
    self->request(node.processor(), 5s, channels::GetWorkerStatus{})
        .receive(
            [&](channels::WorkerStatus& status) {
              CHECK(status.steps_succeeded == 60);
              CHECK(status.peak_namespace_utilization <= 1.0);
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    CHECK(node.shutdown(5s));
  }
  std::set<std::string> tasks;
  for (const auto& result : results) {
    CHECK(result.success);
    CHECK(tasks.insert(result.task_id).second); // each step once
    auto n = std::stoi(result.task_id.substr(result.task_id.rfind('-') + 1));
    CHECK(nlohmann::json::parse(result.result_json)
          == nlohmann::json{{"value", n * n}});
  }
  CHECK(tasks.size() == 60);
}

/// A worker process killed with SIGKILL in the middle of a long step loses
/// nothing: while it lived its lease was extended (the other worker could
/// not claim the step), and after its death the other worker runs the
/// step and sends the one result.
inline void check_killed_worker_loses_nothing(
    const config::NodeConfig& base,
    const std::map<std::string, std::string>& provider_env) {
  TempDir dir{"tasker_worker_kill"};
  auto ns = unique_name("wk");
  dir.write("worker_test.yaml", worker_test_template(ns));
  auto config = base;
  config.template_path = dir.path().string();
  config.worker.event_system.visibility_timeout_seconds = 2;
  config.worker.event_system.fallback_polling_interval_ms = 200;
  config.rabbitmq.push_visibility_timeout_seconds = 2;
  config.worker.worker_id = "worker-b";

  auto env = provider_env;
  env["TASKER_TEMPLATE_PATH"] = config.template_path;
  env["TASKER_WORKER_EVENT_SYSTEM_VISIBILITY_TIMEOUT_SECONDS"] = "2";
  env["TASKER_WORKER_EVENT_SYSTEM_FALLBACK_POLLING_INTERVAL_MS"] = "200";
  env["TASKER_RABBITMQ_PUSH_VISIBILITY_TIMEOUT_SECONDS"] = "2";
  env["TASKER_WORKER_WORKER_ID"] = "worker-a";
  ChildProcess worker_a{{TASKER_BINARY_DIR "/apps/tasker-worker"},
                        env,
                        dir.path() / "worker_a.log"};
  REQUIRE_MESSAGE(eventually([&] {
                    return worker_a.output().find("] ready")
                           != std::string::npos;
                  }),
                  worker_a.output());

  auto provider = messaging::MessagingProvider::from_config(config);
  REQUIRE(provider.ok());
  auto queue = config::worker_queue_name(ns);
  auto step = worker_test_step(ns, ns + "-task-long", "tasker.sleep",
                               {{"duration_ms", 4000}});
  REQUIRE(provider->send(queue, {channels::to_json_text(step), {}, {}}).ok());
  // Worker A has it.
  REQUIRE(eventually([&] {
    auto metrics = provider->metrics(queue);
    return metrics.ok() && metrics->visible_depth == 0;
  }));

  auto [registry, plan] = plan_worker_for(config);
  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  worker::WorkerNode worker_b{sys, *provider, registry, plan, config};
  caf::scoped_actor self{sys};
  auto status_of_b = [&] {
    channels::WorkerStatus out;
    self->request(worker_b.processor(), 5s, channels::GetWorkerStatus{})
        .receive(
            [&](channels::WorkerStatus& status) {
              out = status;
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    return out;
  };

  // A's lease is 2 s; 3 s later it still holds the step (extended).
  std::this_thread::sleep_for(3s);
  std::vector<channels::StepResult> results;
  collect_results(*provider, ns, results);
  CHECK(results.empty());
  // Neither B nor A itself got it again (a lapsed lease would hand it to
  // either, depending on the provider).
  CHECK(status_of_b().steps_received == 0);
  CHECK(worker_a.output().find("delivered again") == std::string::npos);

  worker_a.signal(SIGKILL);
  REQUIRE(worker_a.wait_for_exit(10s));
  CHECK(eventually(
      [&] {
        collect_results(*provider, ns, results);
        return !results.empty();
      },
      30s));
  // Nothing more comes: one result, from B.
  std::this_thread::sleep_for(500ms);
  collect_results(*provider, ns, results);
  REQUIRE(results.size() == 1);
  CHECK(results[0].success);
  CHECK(results[0].worker_id == "worker-b");
  CHECK(nlohmann::json::parse(results[0].result_json)
        == nlohmann::json{{"slept_ms", 4000}});
  auto b = status_of_b();
  CHECK(b.steps_claimed == 1);
  CHECK(b.steps_succeeded == 1);
  CHECK(eventually([&] {
    auto metrics = provider->metrics(queue);
    return metrics.ok() && metrics->depth == 0;
  }));
  CHECK(worker_b.shutdown(5s));
}

} // namespace tasker::testing
