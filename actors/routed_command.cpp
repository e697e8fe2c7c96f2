#include "actors/routed_command.hpp"

#include "messaging/queue_classifier.hpp"

namespace tasker::actors {

using messaging::QueueClassifier;
using messaging::QueueRole;

namespace {

// Builds the command of `Message`, `Event` or a poll/unroutable route for
// one notification, given the commands of the queue's role.
template <class Route, class FromMessage, class FromEvent>
Route dual(messaging::MessageNotification& n) {
  if (auto message = std::get_if<messaging::Message>(&n)) {
    FromMessage command;
    command.message = std::move(message->message);
    return command;
  }
  auto& available = std::get<messaging::Available>(n);
  if (!available.msg_id)
    return channels::PollRequested{std::move(available.queue)};
  FromEvent command;
  command.queue = std::move(available.queue);
  command.msg_id = *available.msg_id;
  return command;
}

template <class Route>
Route unroutable(const messaging::MessageNotification& n, QueueRole role) {
  return UnroutableNotification{messaging::queue_of(n),
                                std::string{to_string(role)}};
}

} // namespace

OrchestrationRoute route_orchestration(messaging::MessageNotification n) {
  using namespace channels;
  auto role = QueueClassifier::classify(messaging::queue_of(n)).role;
  switch (role) {
    case QueueRole::task_requests:
      return dual<OrchestrationRoute, InitializeTaskFromMessage,
                  InitializeTaskFromMessageEvent>(n);
    case QueueRole::step_results:
      return dual<OrchestrationRoute, ProcessStepResultFromMessage,
                  ProcessStepResultFromMessageEvent>(n);
    case QueueRole::task_finalizations:
      return dual<OrchestrationRoute, FinalizeTaskFromMessage,
                  FinalizeTaskFromMessageEvent>(n);
    default: return unroutable<OrchestrationRoute>(n, role);
  }
}

WorkerRoute route_worker(messaging::MessageNotification n) {
  using namespace channels;
  auto role = QueueClassifier::classify(messaging::queue_of(n)).role;
  if (role != QueueRole::worker_steps)
    return unroutable<WorkerRoute>(n, role);
  return dual<WorkerRoute, ExecuteStepFromMessage, ExecuteStepFromEvent>(n);
}

} // namespace tasker::actors
