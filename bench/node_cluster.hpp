#pragma once

#include "bench/bench_environment.hpp"
#include "tests/support/child_process.hpp"

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tasker::bench {

/// A node process started by a benchmark, its output in a log file. Asked
/// to stop with SIGTERM at destruction, killed when it does not within 30 s.
class NodeProcess {
 public:
  NodeProcess(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env,
              std::filesystem::path log)
      : process_(argv, env, log), log_(std::move(log)) {}

  ~NodeProcess() {
    if (running()) {
      process_.signal(SIGTERM);
      process_.wait_for_exit(std::chrono::seconds{30});
    }
  }

  bool running() {
    return !process_.wait_for_exit(std::chrono::milliseconds{0});
  }

  std::string output() const {
    return process_.output();
  }

  /// CPU time the process has used so far, in seconds (0 when unknown).
  double cpu_seconds() const {
    return process_cpu_seconds(process_.pid()).value_or(0);
  }

  /// Resident memory in MiB (VmRSS), or 0 when unknown.
  double rss_mib() const {
    std::ifstream status{"/proc/" + std::to_string(process_.pid()) + "/status"};
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmRSS:", 0) == 0)
        return std::stod(line.substr(6)) / 1024.0;
    return 0;
  }

  /// Waits until the log says "ready" and "listening on HOST:PORT"; returns
  /// "HOST:PORT". Throws with the log's tail when the process ends first or
  /// after 60 s.
  std::string wait_until_listening() {
    static const std::regex listening{"listening on ([0-9.]+:[0-9]+)"};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
    while (std::chrono::steady_clock::now() < deadline) {
      auto out = output();
      std::smatch match;
      if (out.find("] ready") != std::string::npos
          && std::regex_search(out, match, listening))
        return match[1].str();
      if (!running())
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    auto out = output();
    throw std::runtime_error(
        "the node did not get ready; its log (" + log_.string() + ") ends:\n"
        + out.substr(out.size() > 3000 ? out.size() - 3000 : 0));
  }

 private:
  // Killed with SIGKILL at destruction when still running.
  testing::ChildProcess process_;
  std::filesystem::path log_;
};

/// Where a benchmark's nodes find their servers and programs.
struct ClusterOptions {
  /// "pgmq", "rabbitmq" or "in-memory".
  std::string provider;
  std::string database_url;
  std::string rabbitmq_url;
  std::string apps_dir;
  std::string template_path;
  std::filesystem::path log_dir;
  /// Extra environment for every node.
  std::map<std::string, std::string> env;
};

/// The nodes of one benchmark run: a `tasker-server` and a `tasker-worker`
/// as separate processes on PGMQ (state and queues in one database) and on
/// RabbitMQ (state in PostgreSQL), one `tasker-server --all-in-one` in
/// memory. Stopped (SIGTERM, drain) at destruction.
class NodeCluster {
 public:
  explicit NodeCluster(const ClusterOptions& options) {
    std::map<std::string, std::string> env = options.env;
    env["TASKER_TEMPLATE_PATH"] = options.template_path;
    env["TASKER_WEB_BIND_ADDRESS"] = "127.0.0.1:0";
    env["TASKER_WORKER_BIND_ADDRESS"] = "127.0.0.1:0";
    env.emplace("TASKER_LOG_LEVEL", "info");
    std::filesystem::create_directories(options.log_dir);
    auto server = options.apps_dir + "/tasker-server";
    if (options.provider == "in-memory") {
      env["TASKER_MESSAGING_BACKEND"] = "in_memory";
      env["TASKER_ORCHESTRATION_TASK_STORE"] = "in_memory";
      server_ = std::make_unique<NodeProcess>(
          std::vector<std::string>{server, "--all-in-one"}, env,
          options.log_dir / "server.log");
    } else {
      if (options.provider != "pgmq" && options.provider != "rabbitmq")
        throw std::invalid_argument("unknown provider '" + options.provider
                                    + "' (pgmq, rabbitmq, in-memory)");
      env["TASKER_MESSAGING_BACKEND"] = options.provider;
      env["TASKER_ORCHESTRATION_TASK_STORE"] = "postgresql";
      env["DATABASE_URL"] = options.database_url;
      if (options.provider == "rabbitmq")
        env["RABBITMQ_URL"] = options.rabbitmq_url;
      server_
          = std::make_unique<NodeProcess>(std::vector<std::string>{server}, env,
                                          options.log_dir / "server.log");
    }
    address_ = server_->wait_until_listening();
    if (options.provider != "in-memory") {
      worker_ = std::make_unique<NodeProcess>(
          std::vector<std::string>{options.apps_dir + "/tasker-worker"}, env,
          options.log_dir / "worker.log");
      worker_->wait_until_listening();
    }
  }

  /// "HOST:PORT" of the orchestration API.
  const std::string& address() const {
    return address_;
  }

  NodeProcess& server() {
    return *server_;
  }

  /// The worker process; null all in one.
  NodeProcess* worker() {
    return worker_.get();
  }

 private:
  // The worker stops first: declared last.
  std::unique_ptr<NodeProcess> server_;
  std::unique_ptr<NodeProcess> worker_;
  std::string address_;
};

} // namespace tasker::bench
