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
    : transport_(std::move(transport)), options_(std::move(options)) {}

bool ResultSender::send(const channels::StepResult& result,
                        const std::string& acked_queue, int64_t acked_id) {
  Pending pending{result.step_id,
                  {channels::to_json_text(result), {}, {}},
                  acked_queue,
                  acked_id};
  std::unique_lock lock{mutex_};
  waiting_.push_back(&pending);
  while (!pending.done) {
    if (calling_) {
      finished_.wait(lock);
      continue;
    }
    calling_ = true;
    ++calls_;
    auto batch = take_batch();
    lock.unlock();
    bool sent = deliver(batch, options_.attempts);
    lock.lock();
    for (auto* taken : batch) {
      taken->sent = sent;
      taken->done = true;
    }
    calling_ = false;
    finished_.notify_all();
  }
  return pending.sent;
}

bool ResultSender::send_alone(const channels::StepResult& result,
                              const std::string& acked_queue,
                              int64_t acked_id) {
  Pending pending{result.step_id,
                  {channels::to_json_text(result), {}, {}},
                  acked_queue,
                  acked_id};
  {
    std::lock_guard lock{mutex_};
    ++calls_;
  }
  return deliver({&pending}, 1);
}

std::size_t ResultSender::waiting() const {
  std::lock_guard lock{mutex_};
  return waiting_.size();
}

uint64_t ResultSender::calls() const {
  std::lock_guard lock{mutex_};
  return calls_;
}

// The oldest waiting result and those after it with the same acked queue
// (one call acks messages of one queue), up to `max_batch`.
std::vector<ResultSender::Pending*> ResultSender::take_batch() {
  std::vector<Pending*> batch;
  const auto queue = waiting_.front()->acked_queue;
  for (auto i = waiting_.begin();
       i != waiting_.end() && batch.size() < options_.max_batch;) {
    if ((*i)->acked_queue == queue) {
      batch.push_back(*i);
      i = waiting_.erase(i);
    } else {
      ++i;
    }
  }
  return batch;
}

bool ResultSender::deliver(const std::vector<Pending*>& batch, int attempts) {
  std::vector<messaging::OutgoingMessage> messages;
  std::vector<int64_t> acked_ids;
  std::vector<std::string> step_ids;
  for (const auto* pending : batch) {
    messages.push_back(pending->message);
    acked_ids.push_back(pending->acked_id);
    step_ids.push_back(pending->step_id);
  }
  const auto& queue = batch.front()->acked_queue;
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
