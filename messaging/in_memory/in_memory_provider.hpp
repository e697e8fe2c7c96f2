#pragma once

#include "messaging/in_memory/manual_clock.hpp"
#include "messaging/messaging_service.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>

namespace tasker::messaging {

/// How the in-memory provider pushes to subscribers, so that tests can play
/// every kind of provider with it.
enum class InMemoryPushMode {
  /// Like RabbitMQ: each visible message is leased to one subscriber (round
  /// robin, at most `prefetch` unacked per subscription) and pushed as a
  /// `Message`; expired leases are pushed again. Needs no fallback polling.
  leased_message,
  /// Like PGMQ: on send, `Message` with the unleased message when the
  /// payload is under `inline_payload_limit` bytes, else `Available` with
  /// the id; delayed messages are announced when they become visible.
  /// Needs fallback polling.
  notify,
  /// Signal only: `Available{queue, id}` when a message becomes visible.
  /// Needs fallback polling.
  signal,
};

struct InMemoryOptions {
  /// Deliveries of one message before `receive` moves it to `{queue}_dlq`.
  int32_t max_deliveries = 5;
  std::size_t max_message_size = 1048576;
  InMemoryPushMode push_mode = InMemoryPushMode::leased_message;
  /// `leased_message`: unacked pushes per subscription.
  int32_t prefetch = 100;
  /// `leased_message`: prefetch of particular queues, overriding `prefetch`.
  std::map<std::string, int32_t> queue_prefetch;
  /// `leased_message`: lease taken by a push.
  std::chrono::seconds push_visibility_timeout{30};
  /// `notify`: payloads under this size travel inline.
  std::size_t inline_payload_limit = 7000;
  /// Null: the system clock, with a provider thread that fires delayed and
  /// expired messages on time. Set: time moves only with the manual clock,
  /// and due pushes fire inside its `advance` (deterministic tests).
  std::shared_ptr<ManualClock> manual_clock;
};

/// The in-process provider: the embedded default and the provider of the
/// fast unit tests. Thread-safe and exact: real visibility timeouts, delays,
/// delivery counts and dead-lettering. Notifications caused by a call
/// (send, nack, ack freeing prefetch) are delivered on the caller's thread
/// after the provider's lock is released; those caused by time passing
/// (a delay ending, a lease expiring) on one provider-owned thread, or
/// inside `ManualClock::advance`. A cheap handle: copies share one set of
/// queues.
class InMemoryProvider {
 public:
  explicit InMemoryProvider(InMemoryOptions options = {});

  // -- queue lifecycle --
  core::Result<void> create_queue(const std::string& queue);
  core::Result<void> delete_queue(const std::string& queue);
  core::Result<bool> queue_exists(const std::string& queue);
  core::Result<std::vector<std::string>> list_queues();
  core::Result<void> ensure_queues(const std::vector<std::string>& queues);
  core::Result<QueueHealthReport>
  verify_queues(const std::vector<std::string>& queues);

  // -- messages --
  core::Result<int64_t> send(const std::string& queue,
                             const OutgoingMessage& message);
  core::Result<std::vector<int64_t>>
  send_batch(const std::string& queue,
             const std::vector<OutgoingMessage>& messages);
  core::Result<std::vector<QueuedMessage>>
  receive(const std::string& queue, int32_t limit,
          std::chrono::seconds visibility_timeout);
  core::Result<std::optional<QueuedMessage>>
  read_by_id(const std::string& queue, int64_t id,
             std::chrono::seconds visibility_timeout);
  core::Result<void> ack(const std::string& queue, int64_t id);
  core::Result<void> ack_batch(const std::string& queue,
                               const std::vector<int64_t>& ids);
  core::Result<void> nack(const std::string& queue, int64_t id,
                          const NackAction& action);
  core::Result<void> extend_visibility(const std::string& queue, int64_t id,
                                       std::chrono::seconds timeout);
  core::Result<QueueMetrics> metrics(const std::string& queue);

  // -- push --
  core::Result<Subscription> subscribe(const std::string& queue,
                                       NotificationHandler handler);
  core::Result<Subscription>
  subscribe_many(const std::vector<std::string>& queues,
                 NotificationHandler handler);

  // -- about --
  std::string_view provider_name() const {
    return "in_memory";
  }

  ProviderCapabilities capabilities() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

static_assert(MessagingService<InMemoryProvider>);

} // namespace tasker::messaging
