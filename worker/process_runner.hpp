#pragma once

#include <chrono>
#include <cstddef>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace tasker::worker {

/// A command to run to completion: its argv, what to write to its stdin, and
/// the limits that end it early.
struct ProcessRequest {
  /// `argv[0]` is looked up in `PATH` unless it contains a slash.
  std::vector<std::string> argv;
  std::string stdin_text;
  /// Added to (or replacing in) the environment the child inherits.
  std::vector<std::pair<std::string, std::string>> extra_env;
  /// When the child is terminated if it has not exited.
  std::chrono::steady_clock::time_point deadline
      = std::chrono::steady_clock::time_point::max();
  /// Terminates the child when requested.
  std::stop_token stop;
  /// More stdout than this kills the child.
  std::size_t max_stdout_bytes = 16 * 1024 * 1024;
  /// Only the last this many bytes of stderr are kept.
  std::size_t stderr_tail_bytes = 4096;
  /// How long a terminated child has between SIGTERM and SIGKILL.
  std::chrono::milliseconds kill_grace{2000};
};

/// How a process ended and what it wrote.
struct ProcessOutcome {
  enum class Ending {
    /// It exited by itself: see `exit_code`.
    exited,
    /// A signal it did not get from us ended it: see `signal`.
    signaled,
    /// The deadline passed; it was terminated.
    timed_out,
    /// The stop token was requested; it was terminated.
    stopped,
    /// It wrote more than `max_stdout_bytes` to stdout; it was killed.
    output_too_large,
    /// It could not be started: see `start_error`.
    failed_to_start,
  };

  Ending ending = Ending::failed_to_start;
  /// The exit status when it exited, else -1.
  int exit_code = -1;
  /// The signal that ended it (ours too, after a termination), else 0.
  int signal = 0;
  /// At most `max_stdout_bytes`: the beginning of stdout.
  std::string stdout_text;
  /// The last `stderr_tail_bytes` of stderr.
  std::string stderr_tail;
  /// Why it could not start, naming `argv[0]`.
  std::string start_error;
  std::chrono::milliseconds elapsed{0};
};

/// Runs `request.argv` in a process group of its own, with `stdin_text` on
/// stdin, the environment inherited plus `extra_env`, and stdin, stdout and
/// stderr served together so that no amount of output deadlocks it. At the
/// deadline or on stop it sends SIGTERM to the group, then SIGKILL after
/// `kill_grace`. Once the child itself has exited, whatever is left of its
/// group is killed: nothing it started outlives the call, and no zombie is
/// left. Blocks the calling thread; several calls may run at once. Sets
/// SIGPIPE to be ignored in this process (the children get it back).
ProcessOutcome run_process(const ProcessRequest& request);

} // namespace tasker::worker
