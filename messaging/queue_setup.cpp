#include "messaging/queue_setup.hpp"

namespace tasker::messaging {

core::Result<void>
ensure_and_verify_queues(MessagingProvider& provider,
                         const std::vector<std::string>& queues,
                         std::string_view owner) {
  const std::string whose{owner};
  if (auto ensured = provider.ensure_queues(queues); !ensured)
    return core::Error{ensured.error().code(),
                       "creating the " + whose
                           + " queues failed: " + ensured.error().message()};
  auto report = provider.verify_queues(queues);
  if (!report)
    return core::Error{report.error().code(),
                       "verifying the " + whose
                           + " queues failed: " + report.error().message()};
  if (report->all_healthy())
    return {};
  std::string problems;
  for (const auto& queue : report->missing)
    problems += "\n  queue '" + queue + "' is missing";
  for (const auto& [queue, why] : report->errors)
    problems += "\n  queue '" + queue + "': " + why;
  return core::Error{core::ErrorCode::backend_error,
                     "the " + whose + " queues are not usable:" + problems};
}

} // namespace tasker::messaging
