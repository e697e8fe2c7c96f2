#include "worker/process_runner.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tasker::worker {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Owns a file descriptor; -1 is none.
class Fd {
 public:
  Fd() = default;

  explicit Fd(int fd) : fd_(fd) {}

  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

  Fd& operator=(Fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }

  ~Fd() {
    reset();
  }

  int get() const noexcept {
    return fd_;
  }

  bool is_open() const noexcept {
    return fd_ >= 0;
  }

  void reset(int fd = -1) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

// Both ends close on exec: a child started by another thread at the same
// moment must not hold our pipes open.
std::optional<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return std::nullopt;
  return Pipe{Fd{fds[0]}, Fd{fds[1]}};
}

void set_nonblocking(const Fd& fd) {
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
}

// The inherited environment with `extra_env` added or replacing.
std::vector<std::string> child_environment(const ProcessRequest& request) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view item{*entry};
    auto name = item.substr(0, item.find('='));
    auto replaced = std::any_of(request.extra_env.begin(),
                                request.extra_env.end(), [&](auto& var) {
                                  return var.first == name;
                                });
    if (!replaced)
      env.emplace_back(item);
  }
  for (auto& [name, value] : request.extra_env)
    env.push_back(name + "=" + value);
  return env;
}

// The null-terminated `char*` array exec wants, pointing into `strings`.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts the child on the given pipe ends in a new process group; returns 0
// or the errno of the failure (exec errors included: glibc reports them).
int spawn(const ProcessRequest& request, int stdin_fd, int stdout_fd,
          int stderr_fd, pid_t& pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
  // Sockets and files the worker opened without O_CLOEXEC stay ours.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // The child starts with no blocked signal and SIGPIPE back to default,
  // whatever this thread blocks and this process ignores.
  sigset_t none;
  sigset_t sigpipe;
  sigemptyset(&none);
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &sigpipe);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP
                                            | POSIX_SPAWN_SETSIGMASK
                                            | POSIX_SPAWN_SETSIGDEF);
  auto args = request.argv;
  auto env = child_environment(request);
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  int error = ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(),
                             envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  return error;
}

// glibc 2.36 declares pidfd_open() without C linkage: call the kernel.
int pidfd_of(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// The group, and the child itself in case it left the group.
void signal_child(pid_t pid, int signal) {
  ::kill(-pid, signal);
  ::kill(pid, signal);
}

// True once the child has ended, without reaping it: until it is reaped its
// pid, and so its process group id, cannot be reused.
bool has_ended(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno != EINTR; // ECHILD: someone else reaped it
  return info.si_pid == pid;
}

// Milliseconds for poll() until `until`, rounded up so it never spins.
int poll_timeout(Clock::time_point now, Clock::time_point until,
                 bool must_poll) {
  // Without a pidfd or an eventfd, an exit or a stop is only seen by looking.
  auto limit = must_poll ? milliseconds{50} : milliseconds{3'600'000};
  if (until <= now)
    return 0;
  auto left = std::chrono::ceil<milliseconds>(until - now);
  return static_cast<int>(std::min(left, limit).count());
}

// Reads what is there; false at end of file or on an error.
bool read_some(const Fd& fd, std::string& into) {
  std::array<char, 65536> buffer;
  auto n = ::read(fd.get(), buffer.data(), buffer.size());
  if (n > 0) {
    into.append(buffer.data(), static_cast<std::size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

} // namespace

ProcessOutcome run_process(const ProcessRequest& request) {
  using Ending = ProcessOutcome::Ending;
  // A child that closes stdin early must make our write fail with EPIPE,
  // not kill the worker.
  static std::once_flag sigpipe_ignored;
  std::call_once(sigpipe_ignored, [] {
    std::signal(SIGPIPE, SIG_IGN);
  });

  auto started = Clock::now();
  ProcessOutcome outcome;
  auto finish = [&] {
    outcome.elapsed
        = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    return outcome;
  };
  if (request.argv.empty()) {
    outcome.start_error = "cannot start an empty command";
    return finish();
  }
  auto cannot_start = [&](int error) {
    outcome.start_error = "cannot start '" + request.argv[0]
                          + "': " + std::generic_category().message(error);
    return finish();
  };
  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  if (!in || !out || !err)
    return cannot_start(errno);
  pid_t pid = 0;
  if (int error
      = spawn(request, in->read.get(), out->write.get(), err->write.get(), pid))
    return cannot_start(error);
  in->read.reset();
  out->write.reset();
  err->write.reset();
  Fd stdin_fd = std::move(in->write);
  Fd stdout_fd = std::move(out->read);
  Fd stderr_fd = std::move(err->read);
  for (auto* fd : {&stdin_fd, &stdout_fd, &stderr_fd})
    set_nonblocking(*fd);
  if (request.stdin_text.empty())
    stdin_fd.reset();

  // poll() wakes on the child's end (pidfd) and on a stop request (eventfd).
  Fd child_fd{pidfd_of(pid)};
  Fd stop_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  bool must_poll = !child_fd.is_open() || !stop_fd.is_open();
  std::stop_callback on_stop{request.stop, [&stop_fd] {
                               std::uint64_t one = 1;
                               [[maybe_unused]] auto n
                                   = ::write(stop_fd.get(), &one, sizeof one);
                             }};

  std::size_t stdin_written = 0;
  // Why we ended the child, if we did.
  std::optional<Ending> cause;
  auto terminated_at = Clock::time_point::max();
  bool killed = false;
  bool ended = false;
  auto ended_at = Clock::time_point::max();
  // Stays -1 (neither exited nor signaled) if someone else reaped the child.
  int status = -1;
  for (;;) {
    if (!ended && has_ended(pid)) {
      // Nothing it started outlives it.
      signal_child(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      ended = true;
      ended_at = Clock::now();
      stdin_fd.reset();
      child_fd.reset();
    }
    if (ended && !stdout_fd.is_open() && !stderr_fd.is_open())
      break;
    auto now = Clock::now();
    // Processes that left the group may hold the pipes: give up on them.
    if (ended && now >= ended_at + request.kill_grace)
      break;
    if (!ended && !cause) {
      if (request.stop.stop_requested())
        cause = Ending::stopped;
      else if (now >= request.deadline)
        cause = Ending::timed_out;
      if (cause) {
        signal_child(pid, SIGTERM);
        terminated_at = now;
        stdin_fd.reset();
      }
    }
    if (!ended && cause && !killed
        && now >= terminated_at + request.kill_grace) {
      signal_child(pid, SIGKILL);
      killed = true;
    }

    auto wake_at = Clock::time_point::max();
    if (ended)
      wake_at = ended_at + request.kill_grace;
    else if (!cause)
      wake_at = request.deadline;
    else if (!killed)
      wake_at = terminated_at + request.kill_grace;
    std::array<pollfd, 5> fds{};
    nfds_t count = 0;
    // The fd's slot in `fds`, or none when it is not watched.
    auto watch = [&](const Fd& fd, short events) -> pollfd* {
      if (!fd.is_open())
        return nullptr;
      fds[count] = pollfd{fd.get(), events, 0};
      return &fds[count++];
    };
    auto* stdin_poll = watch(stdin_fd, POLLOUT);
    auto* stdout_poll = watch(stdout_fd, POLLIN);
    auto* stderr_poll = watch(stderr_fd, POLLIN);
    if (!ended && !cause)
      watch(stop_fd, POLLIN);
    if (!ended)
      watch(child_fd, POLLIN);
    if (::poll(fds.data(), count, poll_timeout(now, wake_at, must_poll)) <= 0)
      continue;

    // An fd closed while handling an earlier one is skipped.
    auto ready = [](const pollfd* slot, const Fd& fd) {
      return slot != nullptr && slot->revents != 0 && fd.is_open();
    };
    if (ready(stdin_poll, stdin_fd)) {
      auto left = request.stdin_text.size() - stdin_written;
      auto n
          = ::write(stdin_fd.get(), request.stdin_text.data() + stdin_written,
                    std::min<std::size_t>(left, 65536));
      if (n > 0)
        stdin_written += static_cast<std::size_t>(n);
      // Done, or the child closed its stdin (EPIPE): either way, no more.
      if (stdin_written == request.stdin_text.size()
          || (n < 0 && errno != EAGAIN && errno != EINTR))
        stdin_fd.reset();
    }
    if (ready(stdout_poll, stdout_fd)) {
      if (!read_some(stdout_fd, outcome.stdout_text))
        stdout_fd.reset();
      if (outcome.stdout_text.size() > request.max_stdout_bytes) {
        outcome.stdout_text.resize(request.max_stdout_bytes);
        if (!cause)
          cause = Ending::output_too_large;
        // Once reaped, its pid may already name another process.
        if (!ended) {
          signal_child(pid, SIGKILL);
          killed = true;
        }
        stdin_fd.reset();
        stdout_fd.reset();
      }
    }
    if (ready(stderr_poll, stderr_fd)) {
      if (!read_some(stderr_fd, outcome.stderr_tail))
        stderr_fd.reset();
      if (outcome.stderr_tail.size() > request.stderr_tail_bytes)
        outcome.stderr_tail.erase(0, outcome.stderr_tail.size()
                                         - request.stderr_tail_bytes);
    }
  }

  if (WIFEXITED(status))
    outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    outcome.signal = WTERMSIG(status);
  if (cause)
    outcome.ending = *cause;
  else if (WIFSIGNALED(status))
    outcome.ending = Ending::signaled;
  else
    outcome.ending = Ending::exited;
  return finish();
}

} // namespace tasker::worker
