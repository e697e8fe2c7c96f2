#pragma once

#include "channels/actor_interfaces.hpp"
#include "messaging/messaging_provider.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

/// Command processors for event system tests: they record the commands
/// they get and answer them, the worker one with the claim rules of a real
/// processor.
namespace tasker::testing {

/// Records every orchestration command as "Command:queue:id" and answers
/// it at once.
inline channels::orchestration_processor_actor::behavior_type
recording_orchestration_processor(
    channels::orchestration_processor_actor::pointer,
    std::vector<std::string>* seen) {
  using namespace channels;
  auto from_message
      = [seen](const char* name, const messaging::QueuedMessage& m) {
          seen->push_back(std::string{name} + ":" + m.queue + ":"
                          + std::to_string(m.id));
        };
  auto from_event = [seen](const char* name, const std::string& queue,
                           int64_t id) {
    seen->push_back(std::string{name} + ":" + queue + ":" + std::to_string(id));
  };
  return {
      [](InitializeTask&) {
        return TaskInitialized{};
      },
      [=](InitializeTaskFromMessage& c) {
        from_message("InitializeTaskFromMessage", c.message);
        return TaskInitialized{"t1", true, ""};
      },
      [=](InitializeTaskFromMessageEvent& c) {
        from_event("InitializeTaskFromMessageEvent", c.queue, c.msg_id);
        return TaskInitialized{"t2", true, ""};
      },
      [](ProcessStepResult&) {
        return StepResultProcessed{};
      },
      [=](ProcessStepResultFromMessage& c) {
        from_message("ProcessStepResultFromMessage", c.message);
        return StepResultProcessed{};
      },
      [=](ProcessStepResultFromMessageEvent& c) {
        from_event("ProcessStepResultFromMessageEvent", c.queue, c.msg_id);
        return StepResultProcessed{};
      },
      [](FinalizeTask&) {
        return TaskFinalized{};
      },
      [=](FinalizeTaskFromMessage& c) {
        from_message("FinalizeTaskFromMessage", c.message);
        return TaskFinalized{};
      },
      [=](FinalizeTaskFromMessageEvent& c) {
        from_event("FinalizeTaskFromMessageEvent", c.queue, c.msg_id);
        return TaskFinalized{};
      },
      [](CancelTask& c) {
        return TaskFinalized{c.task_id, true, "cancelled", ""};
      },
      [](ApplyStepAction& c) {
        return TaskFinalized{c.task_id, true, "steps_in_process", ""};
      },
      [](GetProcessingStats&) {
        return ProcessingStats{};
      },
      [](OrchestrationHealthCheck&) {
        return OrchestrationHealth{};
      },
  };
}

/// What the fake worker did, shared with the test. On the test coordinator
/// everything runs on the test's thread; on a real scheduler read it with
/// `processed_snapshot` (holding answers back is for the test coordinator).
struct WorkerLog {
  explicit WorkerLog(messaging::MessagingProvider p) : provider(std::move(p)) {}

  /// A command whose answer is held back.
  struct Held {
    caf::typed_response_promise<channels::StepExecuted> promise;
    std::string queue;
    int64_t id = 0;
    bool leased = false;
    bool claimed = false;
    bool claim_tried = false;
  };

  messaging::MessagingProvider provider;
  std::mutex mutex;
  /// The processor, whose promises `finish` delivers from the test thread.
  caf::local_actor* processor = nullptr;
  /// Hold answers back until `finish` (work in progress).
  bool hold = false;
  /// With `hold`: claim only at `finish` too (a busy processor that has
  /// not started on the command yet).
  bool claim_late = false;
  /// "message:ID:leased", "message:ID:unleased" or "event:ID".
  std::vector<std::string> commands;
  /// Times each message id was claimed and processed.
  std::map<int64_t, int> processed;
  std::deque<Held> held;
  /// Acks of claimed messages that failed (a test expects none).
  int ack_failures = 0;

  /// Answers up to `n` held commands, oldest first (acking what was
  /// claimed); returns how many.
  std::size_t finish(std::size_t n = SIZE_MAX) {
    std::size_t done = 0;
    while (!held.empty() && done < n) {
      answer(held.front());
      held.pop_front();
      ++done;
    }
    return done;
  }

  /// Claims the message of `h` (once): a leased one is claimed already,
  /// an unleased one is read by id.
  void claim(Held& h) {
    if (h.claim_tried)
      return;
    h.claim_tried = true;
    h.claimed = h.leased;
    if (!h.claimed) {
      auto got = provider.read_by_id(h.queue, h.id, std::chrono::seconds{30});
      h.claimed = got.ok() && got->has_value();
    }
    if (h.claimed) {
      std::lock_guard<std::mutex> guard{mutex};
      ++processed[h.id];
    }
  }

  std::map<int64_t, int> processed_snapshot() {
    std::lock_guard<std::mutex> guard{mutex};
    return processed;
  }

  void answer(Held& h) {
    claim(h);
    // Outside the actor, its last execution unit (the test coordinator's,
    // on the stack of a finished run) is gone: deliver without one.
    if (processor != nullptr)
      processor->context(nullptr);
    if (h.claimed && !provider.ack(h.queue, h.id))
      ++ack_failures;
    h.promise.deliver(channels::StepExecuted{"task", std::to_string(h.id),
                                             h.claimed, h.claimed});
  }
};

/// A worker processor with a real processor's claim rule: a leased message
/// is its to process; an unleased one or an event is claimed with
/// `read_by_id` first, and not processed when the claim fails (another
/// path or node has it).
inline channels::worker_processor_actor::behavior_type
fake_worker_processor(channels::worker_processor_actor::pointer self,
                      WorkerLog* log) {
  using namespace channels;
  log->processor = self;
  auto handle = [self, log](const std::string& queue, int64_t id, bool leased) {
    WorkerLog::Held held{self->make_response_promise<StepExecuted>(), queue, id,
                         leased};
    if (!(log->hold && log->claim_late))
      log->claim(held);
    auto promise = held.promise;
    if (log->hold)
      log->held.push_back(std::move(held));
    else
      log->answer(held);
    return promise;
  };
  return {
      [=](ExecuteStepFromMessage& c) {
        std::unique_lock<std::mutex> guard{log->mutex};
        log->commands.push_back("message:" + std::to_string(c.message.id)
                                + (c.message.leased ? ":leased" : ":unleased"));
        guard.unlock();
        return handle(c.message.queue, c.message.id, c.message.leased);
      },
      [=](ExecuteStepFromEvent& c) {
        std::unique_lock<std::mutex> guard{log->mutex};
        log->commands.push_back("event:" + std::to_string(c.msg_id));
        guard.unlock();
        return handle(c.queue, c.msg_id, false);
      },
      [](GetWorkerStatus&) {
        return WorkerStatus{};
      },
      [](WorkerHealthCheck&) {
        return WorkerHealth{};
      },
      [](ShutdownWorker&) {},
  };
}

} // namespace tasker::testing
