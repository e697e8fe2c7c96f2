#include "worker/process_runner.hpp"

#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

using namespace std::chrono_literals;
using tasker::testing::TempDir;
using tasker::worker::ProcessOutcome;
using tasker::worker::ProcessRequest;
using tasker::worker::run_process;
using Ending = ProcessOutcome::Ending;
using Clock = std::chrono::steady_clock;

namespace {

// A command ending on its own within 20 s unless the test says so.
ProcessRequest command(std::vector<std::string> argv) {
  ProcessRequest request;
  request.argv = std::move(argv);
  request.deadline = Clock::now() + 20s;
  return request;
}

ProcessRequest shell(const std::string& script) {
  return command({"/bin/sh", "-c", script});
}

// True when no child of this process is left unreaped.
bool no_zombie_child() {
  return ::waitpid(-1, nullptr, WNOHANG) <= 0;
}

// True once `pid` has ended (or is gone), waiting for it at most `limit`: a
// process killed a moment ago may still be closing down.
bool ends_within(pid_t pid, std::chrono::milliseconds limit) {
  // glibc 2.36 declares pidfd_open() without C linkage: call the kernel.
  auto fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0)
    return errno == ESRCH;
  pollfd watch{fd, POLLIN, 0};
  bool ended = ::poll(&watch, 1, static_cast<int>(limit.count())) == 1;
  ::close(fd);
  return ended;
}

// Requests a stop from another thread once the command says it is ready
// (by writing to a FIFO): no sleep, no race with the command's start.
class StopWhenReady {
 public:
  StopWhenReady() {
    REQUIRE(::mkfifo(fifo_.c_str(), 0600) == 0);
    stopper_ = std::jthread{[this] {
      std::ifstream ready{fifo_};
      std::string word;
      ready >> word;
      stop_.request_stop();
    }};
  }

  ~StopWhenReady() {
    // Frees the thread if the command never said ready (a broken runner).
    int fd = ::open(fifo_.c_str(), O_RDWR);
    [[maybe_unused]] auto n = ::write(fd, "x\n", 2);
    stopper_.join();
    ::close(fd);
  }

  std::stop_token token() const {
    return stop_.get_token();
  }

  // The shell command that says "ready".
  std::string signal_ready() const {
    return "echo ready > '" + fifo_.string() + "'";
  }

 private:
  TempDir dir_;
  std::filesystem::path fifo_ = dir_.path() / "ready";
  std::stop_source stop_;
  std::jthread stopper_;
};

pid_t read_pid(const std::filesystem::path& file) {
  std::ifstream in{file};
  pid_t pid = 0;
  in >> pid;
  return pid;
}

} // namespace

TEST_CASE("a process runner returns the status, stdout and stderr of a "
          "command") {
  auto outcome = run_process(shell("printf out; printf err >&2; exit 3"));
  CHECK(outcome.ending == Ending::exited);
  CHECK(outcome.exit_code == 3);
  CHECK(outcome.signal == 0);
  CHECK(outcome.stdout_text == "out");
  CHECK(outcome.stderr_tail == "err");
  CHECK(outcome.start_error.empty());
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner reports the signal that killed a command") {
  auto outcome = run_process(shell("kill -KILL $$"));
  CHECK(outcome.ending == Ending::signaled);
  CHECK(outcome.signal == SIGKILL);
  CHECK(outcome.exit_code == -1);
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner serves a large stdin, stdout and stderr at once "
          "without deadlock") {
  constexpr std::size_t mib = 1024 * 1024;
  // The child writes 1 MiB to stdout and to stderr before reading its
  // 1 MiB of stdin: a runner writing stdin first would wait forever.
  auto request = shell("head -c 1048576 /dev/zero | tr '\\0' x;"
                       "head -c 1048576 /dev/zero | tr '\\0' e >&2;"
                       "printf END >&2; cat");
  request.stdin_text = std::string(mib, 'y');
  auto outcome = run_process(request);
  REQUIRE(outcome.ending == Ending::exited);
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.stdout_text == std::string(mib, 'x') + std::string(mib, 'y'));
  CHECK(outcome.stderr_tail.size() == request.stderr_tail_bytes);
  CHECK(outcome.stderr_tail
        == std::string(request.stderr_tail_bytes - 3, 'e') + "END");
}

TEST_CASE("a process runner survives a command that closes its stdin early") {
  // Writing to a closed pipe raises SIGPIPE, which would end this process.
  auto request = shell("exec 0<&-; echo closed");
  request.stdin_text = std::string(4 * 1024 * 1024, 'y');
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::exited);
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.stdout_text == "closed\n");
}

TEST_CASE("a process runner gives the command the environment plus its "
          "extra variables") {
  auto request = shell("printf '%s|%s|%s' \"$TASKER_TEST_A\" \"$HOME\" "
                       "\"$PATH\"");
  request.extra_env = {{"TASKER_TEST_A", "a b=c"}, {"HOME", "/elsewhere"}};
  auto outcome = run_process(request);
  REQUIRE(outcome.ending == Ending::exited);
  const char* path = std::getenv("PATH");
  REQUIRE(path != nullptr);
  CHECK(outcome.stdout_text == std::string{"a b=c|/elsewhere|"} + path);
}

TEST_CASE("a process runner starts the command with default signal "
          "handling") {
  // This thread blocks SIGUSR1 and the process ignores SIGPIPE: the child
  // must have neither.
  sigset_t usr1;
  sigset_t previous;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, &previous);
  // No shell between: it changes its own mask around the children it starts.
  auto outcome = run_process(
      command({"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}));
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  REQUIRE(outcome.ending == Ending::exited);
  std::istringstream lines{outcome.stdout_text};
  std::string name;
  std::string mask;
  int seen = 0;
  while (lines >> name >> mask) {
    auto bits = std::stoull(mask, nullptr, 16);
    INFO(name, " ", mask);
    if (name == "SigBlk:")
      CHECK(bits == 0);
    if (name == "SigIgn:")
      CHECK((bits & (1ULL << (SIGPIPE - 1))) == 0);
    ++seen;
  }
  CHECK(seen == 2);
}

TEST_CASE("a process runner gives the command no file descriptor but its "
          "stdin, stdout and stderr") {
  // Opened without O_CLOEXEC, as a careless library would.
  int inherited = ::open("/dev/null", O_RDONLY);
  REQUIRE(inherited >= 0);
  auto outcome = run_process(shell("ls /proc/$$/fd"));
  ::close(inherited);
  REQUIRE(outcome.ending == Ending::exited);
  CHECK(outcome.stdout_text == "0\n1\n2\n");
}

TEST_CASE("a process runner terminates the command and its children at the "
          "deadline") {
  TempDir dir;
  auto pid_file = dir.path() / "sleeper.pid";
  auto request
      = shell("sleep 30 & echo $! > '" + pid_file.string() + "'; wait");
  request.deadline = Clock::now() + 300ms;
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::timed_out);
  CHECK(outcome.signal == SIGTERM);
  CHECK(outcome.elapsed >= 300ms);
  CHECK(outcome.elapsed < 5s);
  auto grandchild = read_pid(pid_file);
  REQUIRE(grandchild > 0);
  CHECK(ends_within(grandchild, 2s));
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner stops the command when the stop token is "
          "requested before the call") {
  std::stop_source stop;
  stop.request_stop();
  auto request = shell("sleep 30");
  request.stop = stop.get_token();
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::stopped);
  CHECK(outcome.signal == SIGTERM);
  CHECK(outcome.elapsed < 5s);
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner stops the command when another thread requests "
          "the stop") {
  StopWhenReady stopper;
  auto request = shell(stopper.signal_ready() + "; sleep 30");
  request.deadline = Clock::now() + 60s;
  request.stop = stopper.token();
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::stopped);
  CHECK(outcome.signal == SIGTERM);
  CHECK(outcome.elapsed < 5s);
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner kills a command that ignores SIGTERM after the "
          "grace") {
  // Its child `sleep` inherits the ignored SIGTERM.
  StopWhenReady stopper;
  auto request
      = shell("trap '' TERM; " + stopper.signal_ready() + "; sleep 30");
  request.stop = stopper.token();
  request.kill_grace = 200ms;
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::stopped);
  CHECK(outcome.signal == SIGKILL);
  CHECK(outcome.elapsed >= 200ms);
  CHECK(outcome.elapsed < 5s);
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner kills a command whose stdout passes the limit") {
  auto request = shell("while :; do echo 0123456789; done");
  request.max_stdout_bytes = 1000;
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::output_too_large);
  CHECK(outcome.stdout_text.size() == 1000);
  CHECK(outcome.stdout_text.starts_with("0123456789\n0123456789\n"));
  CHECK(outcome.elapsed < 5s);
  CHECK(no_zombie_child());

  request = shell("printf 0123456789");
  request.max_stdout_bytes = 10;
  outcome = run_process(request);
  CHECK(outcome.ending == Ending::exited);
  CHECK(outcome.stdout_text == "0123456789");
}

TEST_CASE("a process runner kills what a command left running when it "
          "exits") {
  TempDir dir;
  auto pid_file = dir.path() / "left.pid";
  auto outcome = run_process(
      shell("sleep 30 & echo $! > '" + pid_file.string() + "'; echo done"));
  CHECK(outcome.ending == Ending::exited);
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.stdout_text == "done\n");
  CHECK(outcome.elapsed < 5s);
  auto left = read_pid(pid_file);
  REQUIRE(left > 0);
  CHECK(ends_within(left, 2s));
}

TEST_CASE("a process runner reports a command that cannot start, naming "
          "it") {
  ProcessRequest request;
  request.argv = {"tasker-no-such-program", "--flag"};
  auto outcome = run_process(request);
  CHECK(outcome.ending == Ending::failed_to_start);
  CHECK(outcome.start_error
        == "cannot start 'tasker-no-such-program': No such file or directory");

  TempDir dir;
  auto script = dir.write("not_executable.sh", "#!/bin/sh\necho hi\n");
  request.argv = {script.string()};
  outcome = run_process(request);
  CHECK(outcome.ending == Ending::failed_to_start);
  CHECK(outcome.start_error
        == "cannot start '" + script.string() + "': Permission denied");

  request.argv = {};
  CHECK(run_process(request).ending == Ending::failed_to_start);
  CHECK(no_zombie_child());
}

TEST_CASE("a process runner serves several calls from several threads at "
          "once") {
  constexpr int calls = 6;
  std::array<ProcessOutcome, calls> outcomes;
  std::array<std::string, calls> inputs;
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < calls; ++i) {
      inputs[i] = std::string(200'000 + i, static_cast<char>('a' + i));
      threads.emplace_back([&, i] {
        auto request = shell("cat");
        request.stdin_text = inputs[i];
        outcomes[i] = run_process(request);
      });
    }
  }
  for (int i = 0; i < calls; ++i) {
    CHECK(outcomes[i].ending == Ending::exited);
    CHECK(outcomes[i].stdout_text == inputs[i]);
  }
  CHECK(no_zombie_child());
}
