#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tasker::bench {

/// A node process started by a benchmark, its output in a log file. Asked
/// to stop with SIGTERM at destruction, killed when it does not within 30 s.
class NodeProcess {
 public:
  NodeProcess(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env,
              std::filesystem::path log)
      : log_(std::move(log)) {
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e; ++e) {
      std::string item{*e};
      auto eq = item.find('=');
      if (eq != std::string::npos)
        merged[item.substr(0, eq)] = item.substr(eq + 1);
    }
    for (const auto& [k, v] : env)
      merged[k] = v;
    std::vector<std::string> items;
    for (const auto& [k, v] : merged)
      items.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& item : items)
      envp.push_back(item.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& arg : args)
      argp.push_back(arg.data());
    argp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(),
                         envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
      throw std::runtime_error("cannot start " + argv.at(0) + ": "
                               + std::strerror(rc));
  }

  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  ~NodeProcess() {
    if (running()) {
      ::kill(pid_, SIGTERM);
      if (!wait_for_exit(std::chrono::seconds{30}))
        ::kill(pid_, SIGKILL);
    }
    wait_for_exit(std::chrono::seconds{10});
  }

  bool running() {
    return !wait_for_exit(std::chrono::milliseconds{0});
  }

  /// True once the process ended within `limit`.
  bool wait_for_exit(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return exited_;
  }

  std::string output() const {
    std::ifstream in{log_};
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  /// Resident memory in MiB (VmRSS), or 0 when unknown.
  double rss_mib() const {
    std::ifstream status{"/proc/" + std::to_string(pid_) + "/status"};
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
  std::filesystem::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
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
