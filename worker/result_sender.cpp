#include "worker/result_sender.hpp"

#include "channels/message_json.hpp"
#include "config/queue_names.hpp"
#include "core/logger.hpp"

#include <thread>
#include <utility>

namespace tasker::worker {

namespace {

constexpr std::string_view kComponent = "worker";

std::string describe(const std::vector<std::string>& step_ids) {
  if (step_ids.size() == 1)
    return "the result of step " + step_ids.front();
  return "the results of " + std::to_string(step_ids.size())
         + " steps (the first " + step_ids.front() + ")";
}

} // namespace

ResultTransport provider_transport(messaging::MessagingProvider provider) {
  return [provider = std::move(provider)](
             const std::vector<messaging::OutgoingMessage>& results,
             const std::string& acked_queue,
             const std::vector<int64_t>& acked_ids) mutable
         -> core::Result<messaging::BatchSentAndAcked> {
    const auto queue = std::string{config::kStepResultsQueue};
    if (results.size() > 1)
      return provider.send_and_ack_batch(queue, results, acked_queue,
                                         acked_ids);
    auto sent = provider.send_and_ack(queue, results.front(), acked_queue,
                                      acked_ids.front());
    if (!sent)
      return sent.error();
    return messaging::BatchSentAndAcked{{sent->sent_id},
                                        std::move(sent->acked)};
  };
}

ResultSender::ResultSender(ResultTransport transport,
                           ResultSenderOptions options)
    : transport_(std::move(transport)), options_(std::move(options)),
      grouper_(
          [this](const std::string& acked_queue, std::vector<Entry> entries) {
            return deliver(acked_queue, std::move(entries));
          },
          options_.max_batch) {}

bool ResultSender::send(const channels::StepResult& result,
                        const std::string& acked_queue, int64_t acked_id) {
  return grouper_.submit(acked_queue,
                         Entry{result.step_id,
                               {channels::to_json_text(result), {}, {}},
                               acked_id});
}

bool ResultSender::send_alone(const channels::StepResult& result,
                              const std::string& acked_queue,
                              int64_t acked_id) {
  return deliver(acked_queue,
                 {Entry{result.step_id,
                        {channels::to_json_text(result), {}, {}},
                        acked_id}},
                 1);
}

std::size_t ResultSender::waiting() const {
  return grouper_.waiting();
}

uint64_t ResultSender::calls() const {
  return grouper_.calls();
}

std::vector<bool> ResultSender::deliver(const std::string& acked_queue,
                                        std::vector<Entry> entries) {
  return std::vector<bool>(entries.size(),
                           deliver(acked_queue, entries, options_.attempts));
}

bool ResultSender::deliver(const std::string& queue,
                           const std::vector<Entry>& entries, int attempts) {
  std::vector<messaging::OutgoingMessage> messages;
  std::vector<int64_t> acked_ids;
  std::vector<std::string> step_ids;
  for (const auto& entry : entries) {
    messages.push_back(entry.message);
    acked_ids.push_back(entry.acked_id);
    step_ids.push_back(entry.step_id);
  }
  for (int attempt = 1;; ++attempt) {
    auto sent = transport_(messages, queue, acked_ids);
    if (sent) {
      if (!sent->acked)
        core::log_warn(kComponent,
                       "acking " + std::to_string(acked_ids.size())
                           + " message(s) of '" + queue
                           + "' failed (their steps run again; orchestration "
                             "ignores repeated results): "
                           + sent->acked.error().to_string());
      return true;
    }
    core::log_warn(kComponent, "sending " + describe(step_ids)
                                   + " failed (attempt "
                                   + std::to_string(attempt) + " of "
                                   + std::to_string(attempts)
                                   + "): " + sent.error().to_string());
    if (attempt >= attempts)
      break;
    std::this_thread::sleep_for(options_.retry_delay * attempt);
  }
  core::log_error(kComponent,
                  describe(step_ids) + (step_ids.size() == 1 ? " was" : " were")
                      + " not sent; " + std::to_string(acked_ids.size())
                      + " message(s) of '" + queue
                      + "' stay unacked and run again after "
                        "their lease");
  return false;
}

} // namespace tasker::worker
