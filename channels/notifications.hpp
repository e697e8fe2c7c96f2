#pragma once

#include "channels/messaging_inspect.hpp"
#include "messaging/message_notification.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

/// What provider listeners and pollers tell routers, and the routers'
/// counters.
namespace tasker::channels {

/// A notification a provider listener actor forwards to its router.
struct NotificationReceived {
  messaging::MessageNotification notification;
};

/// Inspects a `NotificationReceived`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NotificationReceived& x) {
  return f(caf::meta::type_name("NotificationReceived"), x.notification);
}

/// Poll `queue` now: an `Available` without id said something is ready
/// there, but not what, or its router has room for deferred messages.
/// `scan`: read the oldest visible messages, not only deferred ids.
struct PollRequested {
  std::string queue;
  bool scan = false;

  friend bool operator==(const PollRequested&, const PollRequested&) = default;
};

/// Inspects a `PollRequested`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PollRequested& x) {
  return f(caf::meta::type_name("PollRequested"), x.queue, x.scan);
}

/// Ask a router for its event system counters.
struct GetEventSystemStats {
  friend bool operator==(const GetEventSystemStats&, const GetEventSystemStats&)
      = default;
};

/// Inspects a `GetEventSystemStats`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GetEventSystemStats&) {
  return f(caf::meta::type_name("GetEventSystemStats"));
}

/// An event system's counters since it started, and its saturation.
struct EventSystemStats {
  /// Notifications received from provider listeners.
  uint64_t notifications = 0;
  /// Queue reads by the fallback poller, and the messages they returned.
  uint64_t polls = 0;
  uint64_t polled_messages = 0;
  uint64_t commands_routed = 0;
  /// Notifications for a queue the classifier does not know.
  uint64_t unknown_queue = 0;
  /// Messages seen twice (by listener and poller) and routed once.
  uint64_t duplicates = 0;
  /// Notifications not taken because the limit was reached; their queues
  /// are polled when capacity frees.
  uint64_t deferred = 0;
  /// Leased messages handed back to the provider unprocessed.
  uint64_t released = 0;
  /// Times the in-flight limit was reached.
  uint64_t saturations = 0;
  /// Commands routed and not yet answered, their peak and their limit.
  int64_t in_flight = 0;
  int64_t max_in_flight = 0;
  int64_t limit = 0;
  /// Leased messages waiting for capacity (bounded by `limit`).
  int64_t parked = 0;

  /// In-flight commands as a fraction of the limit (1.0: saturated).
  double saturation() const {
    return limit > 0 ? static_cast<double>(in_flight) / limit : 0.0;
  }

  friend bool operator==(const EventSystemStats&, const EventSystemStats&)
      = default;
};

/// Inspects an `EventSystemStats`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, EventSystemStats& x) {
  return f(caf::meta::type_name("EventSystemStats"), x.notifications, x.polls,
           x.polled_messages, x.commands_routed, x.unknown_queue, x.duplicates,
           x.deferred, x.released, x.saturations, x.in_flight, x.max_in_flight,
           x.limit, x.parked);
}

} // namespace tasker::channels
