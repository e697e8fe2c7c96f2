#pragma once

#include "messaging/messaging_provider.hpp"
#include "messaging/queue_classifier.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tasker::messaging {

/// The domain facade over a provider: callers say what they send (a step
/// for a namespace, a step result, a task request, a finalization), the
/// client picks the queue by role.
class MessageClient {
 public:
  explicit MessageClient(MessagingProvider provider)
      : provider_(std::move(provider)) {}

  /// Sends a step message to `worker_{namespace}_queue`.
  core::Result<int64_t> send_step(std::string_view namespace_name,
                                  OutgoingMessage message);

  /// Sends a step result to `orchestration_step_results`.
  core::Result<int64_t> send_step_result(OutgoingMessage message);

  /// Sends a task request to `orchestration_task_requests`.
  core::Result<int64_t> send_task_request(OutgoingMessage message);

  /// Sends a finalization request to `orchestration_task_finalizations`.
  core::Result<int64_t> send_finalization(OutgoingMessage message);

  /// Returns the orchestration queues, in role order.
  static std::vector<std::string> orchestration_queues();

  MessagingProvider& provider() {
    return provider_;
  }

 private:
  core::Result<int64_t> send_to_role(QueueRole role, OutgoingMessage message);

  MessagingProvider provider_;
};

} // namespace tasker::messaging
