#pragma once

#include "channels/notifications.hpp"
#include "channels/orchestration_commands.hpp"
#include "channels/worker_commands.hpp"
#include "messaging/message_notification.hpp"

#include <string>
#include <variant>

namespace tasker::actors {

/// A notification for a queue whose role the router does not serve.
struct UnroutableNotification {
  std::string queue;
  /// Why: the queue's role, e.g. "unknown" or "dead_letter".
  std::string role;
};

/// What an orchestration router makes of a notification: one of the dual
/// command variants, a poll request, or nothing it can route.
using OrchestrationRoute
    = std::variant<channels::InitializeTaskFromMessage,
                   channels::InitializeTaskFromMessageEvent,
                   channels::ProcessStepResultFromMessage,
                   channels::ProcessStepResultFromMessageEvent,
                   channels::FinalizeTaskFromMessage,
                   channels::FinalizeTaskFromMessageEvent,
                   channels::PollRequested, UnroutableNotification>;

/// What a worker router makes of a notification.
using WorkerRoute
    = std::variant<channels::ExecuteStepFromMessage,
                   channels::ExecuteStepFromEvent, channels::PollRequested,
                   UnroutableNotification>;

/// Routes by the queue's role (from `QueueClassifier`): a task request, a
/// step result and a finalization are different commands whether the whole
/// message arrived (`…FromMessage`) or only its id (`…FromMessageEvent`).
/// An `Available` without id becomes a poll request.
OrchestrationRoute route_orchestration(messaging::MessageNotification n);

/// Routes a worker queue's notification to `ExecuteStepFromMessage` or
/// `ExecuteStepFromEvent`; other queues are unroutable.
WorkerRoute route_worker(messaging::MessageNotification n);

} // namespace tasker::actors
