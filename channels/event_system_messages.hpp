#pragma once

#include "channels/messaging_inspect.hpp"
#include "channels/notifications.hpp"
#include "messaging/queued_message.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

/// What the actors of one event system (listener, router, fallback poller
/// and the event system itself) tell each other: capacity reservations,
/// poll results, releases, drain and status.
namespace tasker::channels {

/// Poller → router: may I read up to `wanted` messages from `queue`?
/// `scan`: the poller's timer asks, to find messages nobody was notified of.
struct ReservePollCapacity {
  std::string queue;
  int64_t wanted = 0;
  bool scan = false;

  friend bool operator==(const ReservePollCapacity&, const ReservePollCapacity&)
      = default;
};

/// Inspects a `ReservePollCapacity`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReservePollCapacity& x) {
  return f(caf::meta::type_name("ReservePollCapacity"), x.queue, x.wanted,
           x.scan);
}

/// Router → poller: read at most `granted` messages (0: not now; the router
/// asks for the poll again when capacity frees): first `ids` (deferred
/// notifications' messages, claimed by id), then, with `scan`, the oldest
/// visible messages for the rest of the grant.
struct PollCapacity {
  int64_t granted = 0;
  std::vector<int64_t> ids;
  bool scan = true;

  friend bool operator==(const PollCapacity&, const PollCapacity&) = default;
};

/// Inspects a `PollCapacity`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PollCapacity& x) {
  return f(caf::meta::type_name("PollCapacity"), x.granted, x.ids, x.scan);
}

/// Poller → router: what one read of `queue` returned (leased messages),
/// settling a reservation of `reserved`; `scanned`: it read the oldest
/// visible messages, not only ids.
struct PolledMessages {
  std::string queue;
  std::vector<messaging::QueuedMessage> messages;
  int64_t reserved = 0;
  bool scanned = true;
};

/// Inspects a `PolledMessages`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PolledMessages& x) {
  return f(caf::meta::type_name("PolledMessages"), x.queue, x.messages,
           x.reserved, x.scanned);
}

/// Router → poller: hand leased messages of `queue` back to the provider
/// (visible again after `delay_ms`), because the router will not process
/// them: it is saturated or shutting down.
struct ReleaseMessages {
  std::string queue;
  std::vector<int64_t> ids;
  int64_t delay_ms = 0;

  friend bool operator==(const ReleaseMessages&, const ReleaseMessages&)
      = default;
};

/// Inspects a `ReleaseMessages`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReleaseMessages& x) {
  return f(caf::meta::type_name("ReleaseMessages"), x.queue, x.ids, x.delay_ms);
}

/// The poller's timer: read every queue now.
struct PollTick {
  friend bool operator==(const PollTick&, const PollTick&) = default;
};

/// Inspects a `PollTick`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PollTick&) {
  return f(caf::meta::type_name("PollTick"));
}

/// Router → poller when draining starts: no more reads (releases still run).
struct StopPolling {
  friend bool operator==(const StopPolling&, const StopPolling&) = default;
};

/// Inspects a `StopPolling`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StopPolling&) {
  return f(caf::meta::type_name("StopPolling"));
}

/// Router → poller after the drain, behind every release it sent: answer
/// once those are done.
struct FinishPolling {
  friend bool operator==(const FinishPolling&, const FinishPolling&) = default;
};

/// Inspects a `FinishPolling`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FinishPolling&) {
  return f(caf::meta::type_name("FinishPolling"));
}

/// The poller's answer to `FinishPolling`.
struct PollerFinished {
  /// Messages it handed back to the provider, and hand-backs that failed
  /// (those come back after their visibility timeout).
  int64_t released = 0;
  int64_t release_failures = 0;

  friend bool operator==(const PollerFinished&, const PollerFinished&)
      = default;
};

/// Inspects a `PollerFinished`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PollerFinished& x) {
  return f(caf::meta::type_name("PollerFinished"), x.released,
           x.release_failures);
}

/// The listener's timer: try subscribing again after a failure.
struct RetrySubscribe {
  friend bool operator==(const RetrySubscribe&, const RetrySubscribe&)
      = default;
};

/// Inspects a `RetrySubscribe`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RetrySubscribe&) {
  return f(caf::meta::type_name("RetrySubscribe"));
}

/// Ask a provider listener whether its subscription is in place.
struct GetListenerStatus {
  friend bool operator==(const GetListenerStatus&, const GetListenerStatus&)
      = default;
};

/// Inspects a `GetListenerStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GetListenerStatus&) {
  return f(caf::meta::type_name("GetListenerStatus"));
}

/// A provider listener's state.
struct ListenerStatus {
  bool subscribed = false;
  /// Subscribe attempts so far (1 when the first one succeeded).
  int64_t attempts = 0;
  /// The last subscribe error; empty when none.
  std::string last_error;

  friend bool operator==(const ListenerStatus&, const ListenerStatus&)
      = default;
};

/// Inspects a `ListenerStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ListenerStatus& x) {
  return f(caf::meta::type_name("ListenerStatus"), x.subscribed, x.attempts,
           x.last_error);
}

/// Stop intake and wait up to `deadline_ms` for the commands in flight.
struct DrainEventSystem {
  int64_t deadline_ms = 0;

  friend bool operator==(const DrainEventSystem&, const DrainEventSystem&)
      = default;
};

/// Inspects a `DrainEventSystem`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, DrainEventSystem& x) {
  return f(caf::meta::type_name("DrainEventSystem"), x.deadline_ms);
}

/// The router's drain timer.
struct DrainDeadline {
  friend bool operator==(const DrainDeadline&, const DrainDeadline&) = default;
};

/// Inspects a `DrainDeadline`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, DrainDeadline&) {
  return f(caf::meta::type_name("DrainDeadline"));
}

/// How a drain ended.
struct DrainReport {
  /// True when every command in flight completed before the deadline.
  bool drained = false;
  /// Commands still unanswered at the deadline; their messages stay leased
  /// and come back after their visibility timeout (at-least-once).
  int64_t abandoned = 0;
  /// Leased messages handed back to the provider unprocessed.
  int64_t released = 0;

  friend bool operator==(const DrainReport&, const DrainReport&) = default;
};

/// Inspects a `DrainReport`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, DrainReport& x) {
  return f(caf::meta::type_name("DrainReport"), x.drained, x.abandoned,
           x.released);
}

/// Stop an event system: stop intake, drain up to `deadline_ms`, stop its
/// actors.
struct ShutdownEventSystem {
  int64_t deadline_ms = 0;

  friend bool operator==(const ShutdownEventSystem&, const ShutdownEventSystem&)
      = default;
};

/// Inspects a `ShutdownEventSystem`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ShutdownEventSystem& x) {
  return f(caf::meta::type_name("ShutdownEventSystem"), x.deadline_ms);
}

/// Ask an event system what it runs and its counters.
struct GetEventSystemStatus {
  friend bool operator==(const GetEventSystemStatus&,
                         const GetEventSystemStatus&)
      = default;
};

/// Inspects a `GetEventSystemStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GetEventSystemStatus&) {
  return f(caf::meta::type_name("GetEventSystemStatus"));
}

/// What an event system runs and has done.
struct EventSystemStatus {
  /// "orchestration" or "worker".
  std::string name;
  std::string provider;
  /// The deployment mode it runs ("Hybrid", ...), after
  /// `effective_for_provider`.
  std::string effective_mode;
  /// True when the configured mode was overridden for the provider.
  bool mode_overridden = false;
  std::vector<std::string> queues;
  /// A provider listener actor runs.
  bool listener = false;
  /// The fallback poller reads every queue on a timer (otherwise it reads
  /// only on demand: after a listener gap or when capacity frees).
  bool poll_timer = false;
  EventSystemStats stats;

  friend bool operator==(const EventSystemStatus&, const EventSystemStatus&)
      = default;
};

/// Inspects an `EventSystemStatus`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, EventSystemStatus& x) {
  return f(caf::meta::type_name("EventSystemStatus"), x.name, x.provider,
           x.effective_mode, x.mode_overridden, x.queues, x.listener,
           x.poll_timer, x.stats);
}

/// An orchestration shard's own signal: process the task requests and the
/// step results that arrived since the last batches.
struct FlushBatches {
  friend bool operator==(const FlushBatches&, const FlushBatches&) = default;
};

/// Inspects a `FlushBatches`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, FlushBatches&) {
  return f(caf::meta::type_name("FlushBatches"));
}

/// Send what waits in the task store's outbox now.
struct RelayOutbox {
  friend bool operator==(const RelayOutbox&, const RelayOutbox&) = default;
};

/// Inspects a `RelayOutbox`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RelayOutbox&) {
  return f(caf::meta::type_name("RelayOutbox"));
}

/// The orchestration sweeper's timer.
struct SweepTick {
  friend bool operator==(const SweepTick&, const SweepTick&) = default;
};

/// Inspects a `SweepTick`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SweepTick&) {
  return f(caf::meta::type_name("SweepTick"));
}

/// The API's task creator: answer the creations past their deadline.
struct CreationsDue {
  friend bool operator==(const CreationsDue&, const CreationsDue&) = default;
};

/// Inspects a `CreationsDue`.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CreationsDue&) {
  return f(caf::meta::type_name("CreationsDue"));
}

} // namespace tasker::channels
