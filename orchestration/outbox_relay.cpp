#include "orchestration/outbox_relay.hpp"

#include "core/logger.hpp"

#include <map>
#include <vector>

namespace tasker::orchestration {

OutboxRelay::OutboxRelay(caf::actor_config& cfg, TaskStoreHandle store,
                         messaging::MessagingProvider provider,
                         OutboxRelayOptions options)
    : channels::outbox_relay_actor::base(cfg), store_(std::move(store)),
      provider_(std::move(provider)), options_(options) {}

OutboxRelay::behavior_type OutboxRelay::make_behavior() {
  // A first round at once: entries left by a previous run.
  send(this, channels::RelayOutbox{});
  return {
      [this](channels::RelayOutbox&) {
        auto round = relay_round();
        if (round.sent >= static_cast<std::size_t>(options_.batch_size))
          send(this, channels::RelayOutbox{});
        else if (round.failed > 0)
          delayed_send(this, options_.retry_interval, channels::RelayOutbox{});
      },
  };
}

OutboxRelay::Round OutboxRelay::relay_round() {
  Round round;
  auto entries = store_.take_outbox(options_.batch_size);
  if (!entries) {
    core::log_warn("outbox",
                   "reading the outbox failed: " + entries.error().to_string());
    round.failed = 1;
    return round;
  }
  std::map<std::string, std::vector<const OutboxEntry*>> by_queue;
  for (const auto& entry : *entries)
    by_queue[entry.outbound.queue].push_back(&entry);
  std::vector<int64_t> sent;
  for (const auto& [queue, group] : by_queue) {
    std::vector<messaging::OutgoingMessage> batch;
    for (const auto* entry : group)
      batch.push_back(entry->outbound.message);
    auto done = provider_.send_batch(queue, batch);
    if (!done) {
      core::log_warn("outbox", "sending " + std::to_string(batch.size())
                                   + " message(s) to '" + queue
                                   + "' failed (kept for the next round): "
                                   + done.error().to_string());
      round.failed += group.size();
      continue;
    }
    for (const auto* entry : group)
      sent.push_back(entry->id);
  }
  if (!sent.empty())
    if (auto removed = store_.remove_outbox(sent); !removed)
      core::log_warn("outbox", "removing sent entries failed (they will be "
                               "sent again): "
                                   + removed.error().to_string());
  round.sent = sent.size();
  return round;
}

} // namespace tasker::orchestration
