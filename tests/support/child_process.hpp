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
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tasker::testing {

/// A program the test starts in the background (a node under test), with
/// extra environment variables and its output in a log file. Killed with
/// SIGKILL when still running at destruction.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv,
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
    std::vector<std::string> env_items;
    for (const auto& [k, v] : merged)
      env_items.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& item : env_items)
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

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  ~ChildProcess() {
    if (!exit_status_) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(std::chrono::seconds{10});
    }
  }

  pid_t pid() const {
    return pid_;
  }

  void signal(int sig) {
    ::kill(pid_, sig);
  }

  /// The raw wait status once the process ended within `limit`.
  std::optional<int> wait_for_exit(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exit_status_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = status;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return exit_status_;
  }

  /// What the process wrote so far (stdout and stderr).
  std::string output() const {
    std::ifstream in{log_};
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

} // namespace tasker::testing
