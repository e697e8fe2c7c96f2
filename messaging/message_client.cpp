#include "messaging/message_client.hpp"

namespace tasker::messaging {

core::Result<int64_t> MessageClient::send_step(std::string_view namespace_name,
                                               OutgoingMessage message) {
  return provider_.send(QueueClassifier::worker_queue(namespace_name), message);
}

core::Result<int64_t> MessageClient::send_step_result(OutgoingMessage message) {
  return send_to_role(QueueRole::step_results, std::move(message));
}

core::Result<int64_t>
MessageClient::send_task_request(OutgoingMessage message) {
  return send_to_role(QueueRole::task_requests, std::move(message));
}

core::Result<int64_t>
MessageClient::send_finalization(OutgoingMessage message) {
  return send_to_role(QueueRole::task_finalizations, std::move(message));
}

std::vector<std::string> MessageClient::orchestration_queues() {
  return {*QueueClassifier::queue_for(QueueRole::task_requests),
          *QueueClassifier::queue_for(QueueRole::step_results),
          *QueueClassifier::queue_for(QueueRole::task_finalizations)};
}

core::Result<int64_t> MessageClient::send_to_role(QueueRole role,
                                                  OutgoingMessage message) {
  return provider_.send(*QueueClassifier::queue_for(role), message);
}

} // namespace tasker::messaging
