#pragma once

#include "channels/notifications.hpp"
#include "messaging/queued_message.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace tasker::actors {

/// What a router does with a notification or a message.
enum class Admission {
  /// Request its command now.
  route,
  /// The same message is in flight already: drop it, counted.
  duplicate,
  /// Saturated, and it holds no lease: leave it in the queue and poll the
  /// queue when capacity frees.
  defer,
  /// Saturated, and it holds a lease: keep it until capacity frees.
  park,
  /// Hand it back to the provider: the park is full.
  release,
  /// The router drains, and it holds a lease: leave it to the subscription,
  /// which hands it back when it closes (handed back now, a push provider
  /// would push it again at once).
  hold,
};

/// A router's bookkeeping, kept apart from actors and I/O: the in-flight
/// limit, which messages are in flight (to route a message seen by both
/// listener and poller once), poll reservations, parked leased messages
/// and the queues to poll when capacity frees. Nothing grows without bound:
/// in flight and reserved stay within `limit`, the park within `limit`,
/// the deferred set within the number of queues.
class IntakeLedger {
 public:
  explicit IntakeLedger(int64_t limit);

  /// A notification without a lease: `Available{queue, id}` or a `Message`
  /// with `leased == false` (its processor claims it first). While its
  /// queue has a backlog (a notification was deferred and no poll has found
  /// the queue empty since) it is deferred too, even with room: polls read
  /// oldest first, so that new messages do not overtake waiting ones.
  Admission admit_unleased(const std::string& queue, int64_t id);

  /// A message pushed with a lease. `park` keeps it in the ledger.
  Admission admit_leased(const messaging::QueuedMessage& message);

  /// Reserves room for a poll of up to `wanted` messages of `queue` and
  /// returns the grant; a zero grant (saturated) remembers `queue` for
  /// `take_deferred`. Draining grants nothing.
  int64_t reserve(const std::string& queue, int64_t wanted);

  /// A message a reserved poll returned (leased): it takes one unit of the
  /// reservation. Returns `route`, or `release` while draining.
  Admission admit_polled(const std::string& queue, int64_t id);

  /// Returns the unused part of a poll's reservation.
  void unreserve(int64_t units);

  /// A poll of `queue` granted `granted` and read `read` messages: fewer
  /// means its backlog is gone.
  void polled(const std::string& queue, int64_t granted, int64_t read);

  /// A routed command for message `id` of `queue` was answered. Returns
  /// true when the message was notified again meanwhile (it may have come
  /// back, e.g. after a requeue): poll its queue.
  bool complete(const std::string& queue, int64_t id);

  /// Takes the next parked message when there is room, counting it in
  /// flight.
  std::optional<messaging::QueuedMessage> unpark();

  /// Takes the queues whose notifications were deferred, when there is
  /// room to read them.
  std::vector<std::string> take_deferred();

  /// Stops admitting work and forgets the parked messages: the
  /// subscription that leased them hands them back when it closes (handed
  /// back now, a push provider would push them again at once).
  void start_drain();

  bool draining() const {
    return draining_;
  }

  /// Nothing in flight and no poll outstanding.
  bool idle() const {
    return in_flight_ == 0 && reserved_ == 0;
  }

  int64_t in_flight() const {
    return in_flight_;
  }

  int64_t available() const {
    return limit_ - in_flight_ - reserved_;
  }

  /// The counters; the router adds its own (notifications, polls, ...).
  channels::EventSystemStats& stats() {
    return stats_;
  }

  /// The counters with the ledger's gauges filled in.
  channels::EventSystemStats snapshot() const;

 private:
  struct Key {
    std::string queue;
    int64_t id;
    friend bool operator==(const Key&, const Key&) = default;
  };

  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept;
  };

  struct InFlight {
    /// Commands in flight for this message (a leased copy may join an
    /// unleased one).
    int32_t commands = 0;
    bool notified_again = false;
  };

  void start(const std::string& queue, int64_t id);
  void note_saturation();

  int64_t limit_;
  int64_t in_flight_ = 0;
  int64_t reserved_ = 0;
  bool draining_ = false;
  bool saturated_ = false;
  std::unordered_map<Key, InFlight, KeyHash> messages_;
  std::deque<messaging::QueuedMessage> parked_;
  std::set<std::string> deferred_;
  /// Queues with visible messages left unclaimed (bounded by the queues).
  std::set<std::string> backlog_;
  channels::EventSystemStats stats_;
};

} // namespace tasker::actors
