#pragma once

#include "channels/actor_interfaces.hpp"
#include "channels/step_message.hpp"
#include "messaging/messaging_provider.hpp"
#include "worker/handler_registry.hpp"
#include "worker/result_sender.hpp"

#include <caf/actor_clock.hpp>
#include <caf/typed_response_promise.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <utility>

namespace tasker::worker {

/// Runs a job on another thread (`HandlerPool::submit`); tests pass a
/// queue they drain by hand.
using JobRunner = std::function<void(std::function<void()>)>;

struct WorkerProcessorOptions {
  /// Names the worker in results and logs.
  std::string worker_id = "worker";
  /// Steps of one namespace taken on at once, by namespace.
  std::map<std::string, int64_t, std::less<>> concurrency;
  /// The limit of namespaces `concurrency` does not name.
  int64_t default_concurrency = 10;
  /// How long a claim or an extension keeps a message invisible.
  std::chrono::seconds lease{30};
  /// How often the leases of running steps are extended (well under
  /// `lease`: a third of it by default).
  std::chrono::milliseconds heartbeat{10000};
  /// The timeout of steps whose message sets none.
  std::chrono::seconds default_timeout{300};
  /// After the timeout, how long a handler may take to notice the stop
  /// before the worker reports the timeout in its place.
  std::chrono::milliseconds timeout_grace{2000};
  /// How results are sent: batch limit, attempts, retry delay.
  ResultSenderOptions results;
  /// A step's slot frees when its handler returns, while its result is
  /// still being sent (on that thread): for providers whose sends take a
  /// round trip the next step need not wait for, and whose consumers hold
  /// as many messages as they take (PGMQ). Needs a handler thread more per
  /// slot.
  bool free_slot_before_send = false;
  /// Told of every handler run (on the handler thread): its namespace,
  /// whether it succeeded, and how long it took. For metrics.
  std::function<void(const std::string& namespace_name, bool success,
                     std::chrono::duration<double> elapsed)>
      observe_step;
};

/// The worker's command processor (`worker_processor_actor`), for every
/// namespace the worker serves:
/// - claims a step message (reads it by id on a handler thread, unless it
///   came leased), decodes it (an undecodable one is dead-lettered with the
///   reason), and runs its handler on a handler thread (`JobRunner`), never
///   on its own;
/// - takes on at most the namespace's concurrency at once; more commands of
///   a full namespace wait (the event system's in-flight limit of the
///   namespace keeps that queue short);
/// - extends the leases of running steps every `heartbeat`;
/// - at the step's timeout (from the message, else `default_timeout`)
///   requests the handler's stop; `timeout_grace` later it reports a
///   retryable `handler_timeout` failure itself if the handler has not
///   returned;
/// - sends the result to `orchestration_step_results`, and acks the step
///   message only once the send succeeded (`ResultSender`: results that
///   finish together go in one call); it answers the command then, or
///   with `free_slot_before_send` as soon as the handler returns: the send
///   goes on on the handler's thread while the slot takes the next step.
/// It never blocks: claims, handlers and sends run on handler threads
/// (`run_job`), lease extensions and reported timeouts on `run_upkeep`
/// (a thread of their own, so that handlers filling every handler thread
/// cannot hold up a lease).
class WorkerProcessor : public channels::worker_executor_actor::base {
 public:
  WorkerProcessor(caf::actor_config& cfg, messaging::MessagingProvider provider,
                  std::shared_ptr<const HandlerRegistry> registry,
                  JobRunner run_job, JobRunner run_upkeep,
                  WorkerProcessorOptions options);

  const char* name() const override {
    return "worker_processor";
  }

  behavior_type make_behavior() override;

  void on_exit() override;

 private:
  enum class Claim { pending, claimed, not_claimed, dead_lettered };

  /// A command not yet taken on.
  struct Waiting {
    std::string queue;
    int64_t msg_id = 0;
    std::optional<messaging::QueuedMessage> message;
    caf::typed_response_promise<channels::StepExecuted> promise;
  };

  /// One command's step, shared with the handler thread that works on it.
  /// A step's timeout to act on: stop its handler, or (`final`, the grace
  /// later) report the timeout in its place.
  struct Deadline {
    uint64_t execution = 0;
    bool final = false;
  };
  using Deadlines = std::multimap<caf::actor_clock::time_point, Deadline>;

  /// The thread writes its fields before it signals the actor
  /// (`StepReady` after a claim, `StepHandled` when the handler returned,
  /// `StepFinished`); `settled` decides who sends the result when the
  /// handler and the timeout race.
  struct Execution {
    uint64_t id = 0;
    std::string namespace_name;
    std::string queue;
    int64_t msg_id = 0;
    std::optional<messaging::QueuedMessage> message;
    Claim claim = Claim::pending;
    channels::StepMessage step;
    std::stop_source stop;
    std::atomic<bool> settled{false};
    /// Set when the actor exits: a handler not begun yet is not run.
    std::atomic<bool> abandoned{false};
    bool success = false;
    bool sent = false;
    /// The timeout's report took over the result (and counts it if unsent).
    bool timeout_reported = false;
    std::string error_type;
    int lease_ticks = 0;
    bool running = false;
    /// Its slot and its command are released (`StepHandled`): its result
    /// is on its way.
    bool released = false;
    /// A leased copy of the message that arrived while the claim was under
    /// way (the poller read it just before the claim could): taken on if
    /// the claim fails, so the message does not wait for its lease to end.
    std::optional<Waiting> leased_copy;
    std::chrono::steady_clock::time_point deadline;
    /// Its entry in `deadlines_` while one is pending.
    std::optional<Deadlines::iterator> deadline_entry;
    caf::typed_response_promise<channels::StepExecuted> promise;
  };
  using ExecutionPtr = std::shared_ptr<Execution>;

  caf::typed_response_promise<channels::StepExecuted>
  admit(std::string queue, int64_t msg_id,
        std::optional<messaging::QueuedMessage> message);
  void start(Waiting waiting, std::string namespace_name);
  /// On a handler thread: moves an undecodable message to the dead-letter
  /// queue, saying `why`.
  static void dead_letter(messaging::MessagingProvider& provider,
                          Execution& execution, const std::string& why);
  /// The execution's message decoded: its step is claimed, its deadline
  /// set (before the handler starts).
  static void claimed(Execution& execution, channels::StepMessage step,
                      std::chrono::seconds default_timeout);
  /// The step's handler started: count it, watch its timeout.
  void on_ready(const ExecutionPtr& execution);
  /// The handler returned: frees the step's slot and answers its command.
  void on_handled(uint64_t id);
  void on_finished(uint64_t id);
  /// Answers the execution's command and frees its slot (once).
  void release(Execution& execution);
  void add_deadline(caf::timespan after, Deadline deadline);
  void on_deadlines_due();
  void on_deadline(const Deadline& deadline);
  void extend_leases();
  void answer(Execution& execution);
  void start_waiting(const std::string& namespace_name);
  int64_t limit_of(const std::string& namespace_name) const;
  channels::WorkerStatus status() const;

  /// Counted by upkeep jobs, off the actor's thread.
  struct UpkeepCounters {
    std::atomic<uint64_t> lease_extensions{0};
    std::atomic<uint64_t> results_unsent{0};
  };

  messaging::MessagingProvider provider_;
  std::shared_ptr<const HandlerRegistry> registry_;
  JobRunner run_job_;
  JobRunner run_upkeep_;
  WorkerProcessorOptions options_;
  std::shared_ptr<UpkeepCounters> upkeep_counters_;
  std::shared_ptr<ResultSender> results_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, ExecutionPtr> executions_;
  /// The executions of messages, so a second delivery of one is not run
  /// twice here.
  std::map<std::pair<std::string, int64_t>, uint64_t> in_progress_;
  std::map<std::string, int64_t> active_;
  std::map<std::string, std::deque<Waiting>> waiting_;
  channels::WorkerStatus counters_;
  /// Pending deadlines, earliest first, behind one timer (due at
  /// `timer_at_`): a step schedules nothing on CAF's clock, whose thread a
  /// message per step would wake.
  Deadlines deadlines_;
  std::optional<caf::actor_clock::time_point> timer_at_;
  bool stopping_ = false;
};

} // namespace tasker::worker
