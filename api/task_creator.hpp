#pragma once

#include "channels/orchestration_commands.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace tasker::api {

struct TaskCreatorOptions {
  /// How long a creation waits for the processor before it is answered
  /// with `caf::sec::request_timeout`.
  std::chrono::milliseconds timeout{10000};
  /// How often the deadlines are checked while creations wait: one may be
  /// answered up to this much after its deadline.
  std::chrono::milliseconds check_interval{250};
};

/// Creates tasks for the API's HTTP threads: one long-lived actor asks the
/// orchestration processor for each creation and hands the answer, or the
/// error, to the creation's callback, once. The deadlines sit behind one
/// periodic check that runs only while creations wait: a creation past its
/// deadline is answered with `caf::sec::request_timeout` and its late
/// answer dropped. (A one-shot actor per creation, with a request timeout
/// of its own, woke CAF's timer thread twice per task.) Closing it (or
/// destroying it) answers the creations still waiting with
/// `caf::sec::request_timeout`, and later ones at once. Thread-safe.
class TaskCreator {
 public:
  using Done = std::function<void(caf::expected<channels::TaskInitialized>)>;

  /// `processor` answers `InitializeTask` with `TaskInitialized`.
  TaskCreator(caf::actor_system& system, caf::actor processor,
              TaskCreatorOptions options);

  ~TaskCreator();

  TaskCreator(const TaskCreator&) = delete;
  TaskCreator& operator=(const TaskCreator&) = delete;

  /// Asks for `command`. `done` runs once: on the creator's actor, or at
  /// once on this thread when the creator is closed.
  void create(channels::InitializeTask command, Done done);

  /// Answers the creations waiting, and any later one, with
  /// `caf::sec::request_timeout` on this thread (a node shutting down
  /// answers them before its HTTP server stops).
  void close();

 private:
  // Shared with the actor, which outlives the creator by a little.
  struct Waiting;

  std::chrono::milliseconds timeout_;
  std::shared_ptr<Waiting> waiting_;
  caf::actor actor_;
};

} // namespace tasker::api
