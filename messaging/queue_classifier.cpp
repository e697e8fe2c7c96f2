#include "messaging/queue_classifier.hpp"

#include "config/queue_names.hpp"

namespace tasker::messaging {

std::string_view to_string(QueueRole role) {
  switch (role) {
    case QueueRole::task_requests: return "task_requests";
    case QueueRole::step_results: return "step_results";
    case QueueRole::task_finalizations: return "task_finalizations";
    case QueueRole::worker_steps: return "worker_steps";
    case QueueRole::dead_letter: return "dead_letter";
    case QueueRole::unknown: return "unknown";
  }
  return "unknown";
}

QueueClassification QueueClassifier::classify(std::string_view queue) {
  if (queue == config::kTaskRequestsQueue)
    return {QueueRole::task_requests, std::nullopt};
  if (queue == config::kStepResultsQueue)
    return {QueueRole::step_results, std::nullopt};
  if (queue == config::kTaskFinalizationsQueue)
    return {QueueRole::task_finalizations, std::nullopt};
  if (queue.ends_with(config::kDeadLetterSuffix)) {
    auto owner
        = queue.substr(0, queue.size() - config::kDeadLetterSuffix.size());
    return {QueueRole::dead_letter, config::namespace_of_worker_queue(owner)};
  }
  if (auto ns = config::namespace_of_worker_queue(queue))
    return {QueueRole::worker_steps, std::move(ns)};
  return {QueueRole::unknown, std::nullopt};
}

std::optional<std::string> QueueClassifier::queue_for(QueueRole role) {
  switch (role) {
    case QueueRole::task_requests:
      return std::string{config::kTaskRequestsQueue};
    case QueueRole::step_results: return std::string{config::kStepResultsQueue};
    case QueueRole::task_finalizations:
      return std::string{config::kTaskFinalizationsQueue};
    default: return std::nullopt;
  }
}

std::string QueueClassifier::worker_queue(std::string_view namespace_name) {
  return config::worker_queue_name(namespace_name);
}

} // namespace tasker::messaging
