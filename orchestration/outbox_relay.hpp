#pragma once

#include "channels/actor_interfaces.hpp"
#include "messaging/messaging_provider.hpp"
#include "orchestration/task_store_handle.hpp"

#include <chrono>
#include <cstdint>

namespace tasker::orchestration {

struct OutboxRelayOptions {
  /// Entries sent per round.
  int32_t batch_size = 500;
  /// After a round that could not send everything, the next one comes
  /// this much later.
  std::chrono::milliseconds retry_interval{1000};
};

/// The step enqueuer's second half for stores that do not own the queues:
/// sends the outbox's messages (one `send_batch` per queue) and removes
/// them only once sent, so a crash in between sends twice rather than never
/// (workers and results are idempotent). A round runs at start (entries of
/// a previous run) and on each nudge after a commit that wrote messages; a
/// full round is followed by another at once, a failed one is retried.
class OutboxRelay : public channels::outbox_relay_actor::base {
 public:
  OutboxRelay(caf::actor_config& cfg, TaskStoreHandle store,
              messaging::MessagingProvider provider,
              OutboxRelayOptions options);

  const char* name() const override {
    return "outbox_relay";
  }

  behavior_type make_behavior() override;

 private:
  struct Round {
    std::size_t sent = 0;
    std::size_t failed = 0;
  };

  Round relay_round();

  TaskStoreHandle store_;
  messaging::MessagingProvider provider_;
  OutboxRelayOptions options_;
};

} // namespace tasker::orchestration
