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

// "message 7 of 'q'", "messages 7, 9 of 'q'".
std::string describe_messages(const std::vector<int64_t>& ids,
                              const std::string& queue) {
  std::string out = ids.size() == 1 ? "message " : "messages ";
  for (std::size_t i = 0; i < ids.size(); ++i)
    out += (i == 0 ? "" : ", ") + std::to_string(ids[i]);
  return out + " of '" + queue + "'";
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
            auto count = entries.size();
            return std::vector<bool>(
                count,
                deliver(acked_queue, std::move(entries), options_.attempts));
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

bool ResultSender::deliver(const std::string& queue, std::vector<Entry> entries,
                           int attempts) {
  std::vector<messaging::OutgoingMessage> messages;
  std::vector<int64_t> acked_ids;
  std::vector<std::string> step_ids;
  for (auto& entry : entries) {
    messages.push_back(std::move(entry.message));
    acked_ids.push_back(entry.acked_id);
    step_ids.push_back(std::move(entry.step_id));
  }
  for (int attempt = 1;; ++attempt) {
    auto sent = transport_(messages, queue, acked_ids);
    if (sent) {
      if (!sent->acked)
        core::log_warn(kComponent,
                       "acking " + describe_messages(acked_ids, queue)
                           + " failed (their steps run again; orchestration "
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
                      + " not sent; " + describe_messages(acked_ids, queue)
                      + (acked_ids.size() == 1
                             ? " stays unacked and runs again after its lease"
                             : " stay unacked and run again after their "
                               "leases"));
  return false;
}

} // namespace tasker::worker
