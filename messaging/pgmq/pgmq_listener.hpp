#pragma once

#include "core/result.hpp"
#include "messaging/message_notification.hpp"
#include "messaging/subscription.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tasker::messaging {

/// Returns the notification namespace of a queue: `orchestration` for names
/// starting with it, `<ns>` for `worker_<ns>_queue` and for `<ns>_queue`,
/// else `default` (the rule of tasker's PGMQ notify functions).
std::string notify_namespace(std::string_view queue);

/// Returns the channel that sends to `queue` notify:
/// `pgmq_message_ready.<namespace>`.
std::string notify_channel(std::string_view queue);

/// Returns the headers of a JSON object (PGMQ's `headers` column): string
/// values as they are, other values as their JSON text; empty for anything
/// but an object.
Headers headers_from_json(const nlohmann::json& object);

/// Parses an ISO 8601 timestamp with offset as PostgreSQL renders
/// `timestamptz` in JSON ("2026-11-22T14:00:00.123456+00:00").
std::optional<std::chrono::system_clock::time_point>
parse_iso_timestamp(std::string_view text);

struct PgmqListenerOptions {
  /// libpq connection string of the listener's own connection.
  std::string conninfo;
  /// First reconnect delay after a connection loss; doubles per attempt.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  /// How long `subscribe` waits for the LISTEN to be in place.
  std::chrono::milliseconds subscribe_timeout{10000};
};

/// The LISTEN side of the PGMQ provider: one connection and one thread
/// shared by all subscriptions of a provider. It LISTENs on the channels of
/// the subscribed queues' namespaces, keeps the notifications about
/// subscribed queues and turns their JSON payloads into notifications:
/// `message_with_payload` → `Message` (unleased), `message_ready` →
/// `Available{queue, id}`, `batch_ready` → `Available{queue}`. A
/// notification of a delayed message is held back until the message is
/// visible: for `ready_at - enqueued_at` from its arrival, so clock skew
/// between hosts does not matter. Handlers run on the listener thread,
/// never under a lock.
/// Payloads that do not parse are counted and logged. After a connection
/// loss it reconnects with exponential backoff, logs one warning naming the
/// gap and delivers `Available{queue}` for every subscribed queue, since
/// notifications of the gap are lost.
/// Create it with `std::make_shared`: subscriptions keep it alive.
class PgmqListener : public std::enable_shared_from_this<PgmqListener> {
 public:
  explicit PgmqListener(PgmqListenerOptions options);

  /// Stops the thread and waits for it (unless called on it).
  ~PgmqListener();

  PgmqListener(const PgmqListener&) = delete;
  PgmqListener& operator=(const PgmqListener&) = delete;

  /// Delivers notifications about `queues` to `handler` until the returned
  /// subscription is cancelled; returns once the LISTENs are in place, or
  /// fails with `backend_unavailable` when they are not within
  /// `subscribe_timeout`. The subscription keeps the listener alive.
  core::Result<Subscription> subscribe(const std::vector<std::string>& queues,
                                       NotificationHandler handler);

  /// Notification payloads that could not be parsed so far.
  uint64_t parse_errors() const;

 private:
  struct Core;

  std::shared_ptr<Core> core_;
  std::thread thread_;
};

} // namespace tasker::messaging
