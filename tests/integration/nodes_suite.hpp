// Real processes: one tasker-server and two tasker-worker nodes on a real
// provider, driven through the REST API (run on PGMQ in nodes_pgtest.cpp,
// on RabbitMQ in nodes_rmqtest.cpp).
#pragma once

#include "tests/integration/pg_admin.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "web/http_client.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace tasker::testing {

using namespace std::chrono_literals;
using nlohmann::json;

inline const std::string kApiKey = "e2e-secret-key";

/// A node process and the HTTP address it reported.
struct NodeProcess {
  std::unique_ptr<ChildProcess> process;
  std::string base_url;
};

/// Starts `binary` with `env`; waits for "ready" and the port it listens on.
inline NodeProcess start_node(const std::string& binary,
                              const std::map<std::string, std::string>& env,
                              const std::filesystem::path& log) {
  NodeProcess node;
  node.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{binary}, env, log);
  static const std::regex listening{"listening on ([0-9.]+:[0-9]+)"};
  REQUIRE_MESSAGE(eventually(
                      [&] {
                        auto out = node.process->output();
                        std::smatch match;
                        if (out.find("] ready") == std::string::npos
                            || !std::regex_search(out, match, listening))
                          return false;
                        node.base_url = "http://" + match[1].str();
                        return true;
                      },
                      30s),
                  node.process->output());
  return node;
}

inline web::HttpResponse call(const std::string& base,
                              const std::string& method,
                              const std::string& target,
                              const std::string& body = {},
                              bool with_key = true) {
  std::map<std::string, std::string> headers{
      {"Content-Type", "application/json"}};
  if (with_key)
    headers["X-API-Key"] = kApiKey;
  auto response = web::http_request(base, method, target, body, headers);
  REQUIRE_MESSAGE(response.ok(), response.error().to_string());
  return *response;
}

/// Every example workflow through the REST API with one server and two
/// workers; a worker is SIGKILLed and the server restarted mid-run, and
/// every task still completes, each step once; bad requests get the right
/// status and a message naming the problem.
inline void check_nodes_complete_the_examples(
    const std::map<std::string, std::string>& provider_env) {
  TempDir dir{"tasker_nodes"};
  auto env = provider_env;
  env["TASKER_TEMPLATE_PATH"]
      = std::string{TASKER_SOURCE_DIR} + "/examples/templates";
  env["TASKER_API_KEY"] = kApiKey;
  env["TASKER_WEB_BIND_ADDRESS"] = "127.0.0.1:0";
  env["TASKER_WORKER_BIND_ADDRESS"] = "127.0.0.1:0";
  env["TASKER_WORKER_EVENT_SYSTEM_VISIBILITY_TIMEOUT_SECONDS"] = "2";
  env["TASKER_RABBITMQ_PUSH_VISIBILITY_TIMEOUT_SECONDS"] = "2";
  env["TASKER_ORCHESTRATION_EVENT_SYSTEM_VISIBILITY_TIMEOUT_SECONDS"] = "2";
  env["TASKER_WORKER_EVENT_SYSTEM_FALLBACK_POLLING_INTERVAL_MS"] = "200";
  env["TASKER_ORCHESTRATION_EVENT_SYSTEM_FALLBACK_POLLING_INTERVAL_MS"] = "200";
  const std::string bin = TASKER_BINARY_DIR "/apps/";
  auto server
      = start_node(bin + "tasker-server", env, dir.path() / "server.log");
  auto worker_env = env;
  worker_env["TASKER_WORKER_WORKER_ID"] = "worker-1";
  auto worker_1 = start_node(bin + "tasker-worker", worker_env,
                             dir.path() / "worker1.log");
  worker_env["TASKER_WORKER_WORKER_ID"] = "worker-2";
  auto worker_2 = start_node(bin + "tasker-worker", worker_env,
                             dir.path() / "worker2.log");

  // Bad requests first: each names its problem.
  auto bad = [&](const std::string& body, int status, const std::string& text,
                 bool with_key = true) {
    auto response = call(server.base_url, "POST", "/v1/tasks", body, with_key);
    CHECK_MESSAGE(response.status == status, response.body);
    CHECK_MESSAGE(response.body.find(text) != std::string::npos, response.body);
  };
  bad("{not json", 400, "not valid JSON");
  bad(R"({"namespace": "nope", "name": "x", "context": {}})", 400,
      "unknown template 'nope/x'");
  bad(R"({"namespace": "linear_workflow", "name": "mathematical_sequence",
          "context": {"even_number": "six"}})",
      400, "even_number");
  bad(R"({"namespace": 7, "name": "x", "context": {}})", 400,
      "field 'namespace' must be a string");
  bad(R"({"namespace": "linear_workflow", "name": "mathematical_sequence",
          "contxt": {}})",
      400, "did you mean 'context'");
  bad(R"({"namespace": "linear_workflow"})", 401, "API key", false);
  bad(std::string(2 * 1024 * 1024, ' '), 413, "exceeds");
  CHECK(call(server.base_url, "GET", "/health", {}, false).status == 200);
  CHECK(call(server.base_url, "GET", "/health/ready", {}, false).status == 200);
  CHECK(call(worker_1.base_url, "GET", "/health/ready", {}, false).status
        == 200);

  // 5 tasks of each example.
  const std::vector<std::pair<std::string, std::string>> examples{
      {"linear_workflow", "mathematical_sequence"},
      {"diamond_workflow", "diamond_pattern"},
      {"mixed_dag_workflow", "complex_dag"},
      {"tree_workflow", "hierarchical_tree"}};
  int created = 0;
  for (int n = 2; n <= 6; ++n)
    for (const auto& [ns, name] : examples) {
      json body{{"namespace", ns},
                {"name", name},
                {"context", {{"even_number", n}}},
                {"idempotency_key", ns + "-" + std::to_string(n)}};
      auto response = call(server.base_url, "POST", "/v1/tasks", body.dump());
      REQUIRE_MESSAGE(response.status == 201, response.body);
      ++created;
      if (created == 6)
        worker_1.process->signal(SIGKILL); // mid-run
      if (created == 12) {
        // The server stops gracefully and comes back.
        server.process->signal(SIGTERM);
        auto status = server.process->wait_for_exit(30s);
        REQUIRE(status);
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 0);
        server = start_node(bin + "tasker-server", env,
                            dir.path() / "server2.log");
      }
    }
  // A duplicate request answers with the task it created.
  auto again = call(server.base_url, "POST", "/v1/tasks",
                    json{{"namespace", "linear_workflow"},
                         {"name", "mathematical_sequence"},
                         {"context", {{"even_number", 2}}},
                         {"idempotency_key", "linear_workflow-2"}}
                        .dump());
  CHECK(again.status == 200);
  CHECK(json::parse(again.body).at("created") == false);

  auto complete = [&] {
    auto response
        = call(server.base_url, "GET", "/v1/tasks?state=complete&limit=1");
    return response.status == 200
           && json::parse(response.body).at("total") == created;
  };
  CHECK_MESSAGE(eventually(complete, 90s),
                call(server.base_url, "GET", "/v1/tasks?limit=100").body);
  auto all
      = json::parse(call(server.base_url, "GET", "/v1/tasks?limit=100").body);
  CHECK(all.at("total") == created); // no task twice
  for (const auto& task : all.at("tasks")) {
    auto full
        = json::parse(call(server.base_url, "GET",
                           "/v1/tasks/" + task.at("id").get<std::string>())
                          .body);
    CHECK(full.at("state") == "complete");
    for (const auto& step : full.at("steps"))
      CHECK_MESSAGE(step.at("attempts") == 1, step.dump()); // dispatched once
  }
  // tasker-ctl reads them too.
  auto ctl = [&](std::vector<std::string> words, const std::string& log) {
    words.insert(words.begin(), {bin + "tasker-ctl", "--url", server.base_url});
    ChildProcess run{words, {{"TASKER_API_KEY", kApiKey}}, dir.path() / log};
    auto status = run.wait_for_exit(30s);
    REQUIRE(status);
    CHECK_MESSAGE(WEXITSTATUS(*status) == 0, run.output());
    return run.output();
  };
  auto listed = json::parse(
      ctl({"--json", "task", "list", "state=complete", "limit=100"},
          "ctl_list.log"),
      nullptr, false);
  REQUIRE(listed.is_object());
  CHECK(listed.at("total") == created);
  auto shown = ctl({"task", "get", all.at("tasks")[0].at("id")}, "ctl_get.log");
  CHECK(shown.find("state     complete") != std::string::npos);
  CHECK(ctl({"health"}, "ctl_health.log").find("ready") != std::string::npos);

  auto metrics = call(server.base_url, "GET", "/metrics", {}, false);
  // Finished tasks are counted by the node that finished them, not read
  // from the store at each scrape.
  CHECK(metrics.body.find("tasker_tasks{state=\"complete\"}")
        == std::string::npos);
  CHECK(metrics.body.find("tasker_tasks{state=\"steps_in_process\"} 0")
        != std::string::npos);
  // Counters of this server process (it restarted after 12 creations).
  auto counter = [&](const std::string& name) {
    auto at = metrics.body.find("\n" + name + " ");
    REQUIRE_MESSAGE(at != std::string::npos, name << " missing");
    return std::stoll(metrics.body.substr(at + name.size() + 2));
  };
  auto creation_batches = counter("tasker_creation_batches_total");
  CHECK(creation_batches >= 1);
  CHECK(creation_batches <= counter("tasker_tasks_initialized_total") + 1);
  CHECK(counter("tasker_result_batches_total") >= 1);
  auto finished_total = [&](const std::string& state) {
    const auto series
        = "\ntasker_tasks_finished_total{state=\"" + state + "\"} ";
    auto at = metrics.body.find(series);
    REQUIRE_MESSAGE(at != std::string::npos, series << " missing");
    return std::stoll(metrics.body.substr(at + series.size()));
  };
  CHECK(finished_total("complete") >= 1);
  CHECK(finished_total("complete") <= created);
  CHECK(finished_total("error") == 0);
  // The event system's intake, by how it came: every result arrived by
  // notification or by poll.
  auto intake = [&](const std::string& name) {
    auto at = metrics.body.find("\n" + name + "{event_system=");
    REQUIRE_MESSAGE(at != std::string::npos, name << " missing");
    return std::stoll(metrics.body.substr(metrics.body.find("} ", at) + 2));
  };
  CHECK(intake("tasker_event_system_notifications_total")
            + intake("tasker_event_system_polled_messages_total")
        >= counter("tasker_step_results_total"));
  for (const auto* name : {"tasker_event_system_deferred_total{",
                           "tasker_event_system_duplicates_total{"})
    CHECK_MESSAGE(metrics.body.find(name) != std::string::npos, name);
  CHECK(call(worker_2.base_url, "GET", "/metrics", {}, false)
            .body.find("tasker_step_duration_seconds_count")
        != std::string::npos);

  // Long polls: a finished task answers at once; a bad wait is named.
  const auto task_path
      = "/v1/tasks/" + all.at("tasks")[0].at("id").get<std::string>();
  auto started = std::chrono::steady_clock::now();
  auto finished = call(server.base_url, "GET", task_path + "?wait_ms=60000");
  CHECK(finished.status == 200);
  CHECK(json::parse(finished.body).at("state") == "complete");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  for (const auto& [query, text] :
       std::vector<std::pair<std::string, std::string>>{
           {"?wait_ms=60001", "'wait_ms' must be an integer from 0 to 60000"},
           {"?wait_ms=-1", "not '-1'"},
           {"?wait_ms=5s", "not '5s'"},
           {"?wait=5", "unknown query parameter 'wait'"}}) {
    auto response = call(server.base_url, "GET", task_path + query);
    CHECK_MESSAGE(response.status == 400, query);
    CHECK_MESSAGE(response.body.find(text) != std::string::npos, response.body);
  }

  // A worker that ran steps drains and exits 0 on SIGTERM.
  worker_2.process->signal(SIGTERM);
  auto worker_status = worker_2.process->wait_for_exit(30s);
  REQUIRE_MESSAGE(worker_status, worker_2.process->output());
  CHECK(WIFEXITED(*worker_status));
  CHECK(WEXITSTATUS(*worker_status) == 0);

  // With no worker left a new task stays pending: its long poll answers
  // at the deadline with the task as it is.
  auto pending = call(server.base_url, "POST", "/v1/tasks",
                      json{{"namespace", "linear_workflow"},
                           {"name", "mathematical_sequence"},
                           {"context", {{"even_number", 8}}}}
                          .dump());
  REQUIRE_MESSAGE(pending.status == 201, pending.body);
  started = std::chrono::steady_clock::now();
  auto waited = call(server.base_url, "GET",
                     "/v1/tasks/"
                         + json::parse(pending.body).at("id").get<std::string>()
                         + "?wait_ms=400");
  auto waited_for = std::chrono::steady_clock::now() - started;
  CHECK(waited.status == 200);
  CHECK(json::parse(waited.body).at("state") != "complete");
  CHECK(waited_for >= 400ms);
  CHECK(waited_for < 10s);
}

} // namespace tasker::testing
