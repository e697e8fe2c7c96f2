#pragma once

#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"
#include "worker/call_grouper.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tasker::worker {

/// Claims step messages by id for the worker's handler threads; claims
/// made at the same time for one queue go in one call (`read_by_ids`, on
/// PGMQ one statement; see `CallGrouper`). Thread-safe.
class StepClaimer {
 public:
  using Claimed = core::Result<std::optional<messaging::QueuedMessage>>;

  /// Claims at most this many messages in one call.
  static constexpr std::size_t kMaxBatch = 256;

  StepClaimer(messaging::MessagingProvider provider,
              std::chrono::seconds lease);

  /// Blocks until the claim is made: the message, leased for `lease`; empty
  /// when it is not visible (another worker holds it, or it is gone).
  Claimed claim(const std::string& queue, int64_t id);

  /// Calls made so far.
  uint64_t calls() const;

 private:
  std::vector<Claimed> claim_all(const std::string& queue,
                                 std::vector<int64_t> ids);

  messaging::MessagingProvider provider_;
  std::chrono::seconds lease_;
  CallGrouper<int64_t, Claimed> grouper_;
};

} // namespace tasker::worker
