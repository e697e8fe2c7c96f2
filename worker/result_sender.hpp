#pragma once

#include "channels/orchestration_commands.hpp"
#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"
#include "worker/call_grouper.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tasker::worker {

/// One call that sends results to `orchestration_step_results` and acks
/// `acked_ids` of `acked_queue`, the step messages they answer.
using ResultTransport
    = std::function<core::Result<messaging::BatchSentAndAcked>(
        const std::vector<messaging::OutgoingMessage>& results,
        const std::string& acked_queue, const std::vector<int64_t>& acked_ids)>;

/// The provider as a `ResultTransport`: a single result with
/// `send_and_ack` (on PGMQ its notification carries the result), several
/// with `send_and_ack_batch` (on PGMQ one statement and one commit).
ResultTransport provider_transport(messaging::MessagingProvider provider);

struct ResultSenderOptions {
  /// Results sent in one call at most.
  std::size_t max_batch = 64;
  /// Calls for one batch before giving up (its steps then come back after
  /// their leases and run again).
  int attempts = 3;
  std::chrono::milliseconds retry_delay{200};
};

/// Sends the worker's step results, acking the step messages they answer
/// only once the results are durably sent; results that finish together
/// go in one call, those for one step queue (`CallGrouper`). Thread-safe.
class ResultSender {
 public:
  ResultSender(ResultTransport transport, ResultSenderOptions options);

  /// Blocks until the result is sent (true) or its batch failed
  /// `attempts` times (false: its step message stays unacked).
  bool send(const channels::StepResult& result, const std::string& acked_queue,
            int64_t acked_id);

  /// One call for this result alone, not waiting for others' calls and not
  /// retried: for a caller that must not block long (an actor).
  bool send_alone(const channels::StepResult& result,
                  const std::string& acked_queue, int64_t acked_id);

  /// Results waiting for a call to take them.
  std::size_t waiting() const;

  /// Calls made so far.
  uint64_t calls() const;

 private:
  struct Entry {
    std::string step_id;
    messaging::OutgoingMessage message;
    int64_t acked_id = 0;
  };

  bool deliver(const std::string& acked_queue, std::vector<Entry> entries,
               int attempts);

  ResultTransport transport_;
  ResultSenderOptions options_;
  CallGrouper<Entry, bool> grouper_;
};

} // namespace tasker::worker
