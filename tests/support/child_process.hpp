#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

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
/// SIGKILL when still running at destruction, and sent SIGTERM when the
/// thread that started it ends (a test or benchmark killed outright leaves
/// no node behind). Start it from a thread that outlives it.
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
    int log_fd
        = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0)
      throw std::runtime_error("cannot open " + log_.string() + ": "
                               + std::strerror(errno));
    // The child reports a failed exec through this pipe; it closes on exec.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
      ::close(log_fd);
      throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
    }
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent)
        ::_exit(127);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execve(argp[0], argp.data(), envp.data());
      int error = errno;
      ssize_t written = ::write(report[1], &error, sizeof error);
      static_cast<void>(written);
      ::_exit(127);
    }
    int fork_error = errno;
    ::close(log_fd);
    ::close(report[1]);
    if (pid_ < 0) {
      ::close(report[0]);
      throw std::runtime_error("cannot start " + argv.at(0) + ": "
                               + std::strerror(fork_error));
    }
    int exec_error = 0;
    ssize_t got = 0;
    do
      got = ::read(report[0], &exec_error, sizeof exec_error);
    while (got < 0 && errno == EINTR);
    ::close(report[0]);
    if (got == static_cast<ssize_t>(sizeof exec_error)) {
      wait_for_exit(std::chrono::seconds{10});
      throw std::runtime_error("cannot start " + argv.at(0) + ": "
                               + std::strerror(exec_error));
    }
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
