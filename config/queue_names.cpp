#include "config/queue_names.hpp"

namespace tasker::config {

namespace {

constexpr std::string_view kWorkerPrefix = "worker_";
constexpr std::string_view kWorkerSuffix = "_queue";

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// Returns a description of the first broken character rule, or empty.
std::string character_problem(std::string_view name) {
  if (name.empty())
    return "is empty";
  if (name.front() >= '0' && name.front() <= '9')
    return "starts with a digit";
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i]))
      return "contains '" + std::string(1, name[i]) + "' at position "
             + std::to_string(i + 1)
             + " (allowed: lower-case letters, digits, '_')";
  }
  return {};
}

} // namespace

std::vector<std::string> orchestration_queue_names() {
  return {std::string{kTaskRequestsQueue}, std::string{kStepResultsQueue},
          std::string{kTaskFinalizationsQueue}};
}

std::string worker_queue_name(std::string_view ns) {
  std::string out{kWorkerPrefix};
  out += ns;
  out += kWorkerSuffix;
  return out;
}

std::string dead_letter_queue_name(std::string_view queue) {
  std::string out{queue};
  out += kDeadLetterSuffix;
  return out;
}

std::optional<std::string> namespace_of_worker_queue(std::string_view queue) {
  if (queue.size() <= kWorkerPrefix.size() + kWorkerSuffix.size()
      || !queue.starts_with(kWorkerPrefix) || !queue.ends_with(kWorkerSuffix))
    return std::nullopt;
  return std::string{
      queue.substr(kWorkerPrefix.size(),
                   queue.size() - kWorkerPrefix.size() - kWorkerSuffix.size())};
}

core::Result<void> validate_queue_name(std::string_view name) {
  if (auto problem = character_problem(name); !problem.empty())
    return core::Error{core::ErrorCode::invalid_argument,
                       "invalid queue name '" + std::string{name}
                           + "': " + problem};
  if (name.size() > kMaxQueueNameLength)
    return core::Error{core::ErrorCode::invalid_argument,
                       "invalid queue name '" + std::string{name}
                           + "': " + std::to_string(name.size())
                           + " characters, the maximum is "
                           + std::to_string(kMaxQueueNameLength)};
  return {};
}

core::Result<void> validate_namespace(std::string_view ns) {
  if (auto problem = character_problem(ns); !problem.empty())
    return core::Error{core::ErrorCode::invalid_argument,
                       "invalid namespace '" + std::string{ns}
                           + "': " + problem};
  if (ns.size() > kMaxNamespaceLength)
    return core::Error{
        core::ErrorCode::invalid_argument,
        "invalid namespace '" + std::string{ns}
            + "': " + std::to_string(ns.size()) + " characters, the maximum is "
            + std::to_string(kMaxNamespaceLength) + " so that its queue '"
            + worker_queue_name(ns) + "' and dead-letter queue fit in "
            + std::to_string(kMaxQueueNameLength) + " characters"};
  return {};
}

} // namespace tasker::config
