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

/// What a poll may read: up to `granted` messages, first `ids` by id, then,
/// with `scan`, the oldest visible ones.
struct PollGrant {
  int64_t granted = 0;
  std::vector<int64_t> ids;
  bool scan = true;
};

/// A router's bookkeeping, kept apart from actors and I/O: the in-flight
/// limit, which messages are in flight (to route a message seen by both
/// listener and poller once), poll reservations, parked leased messages,
/// the queues to poll when capacity frees and the ids of the deferred
/// notifications, which polls claim by id rather than by scanning the queue
/// from its oldest message. Nothing grows without bound: in flight and
/// reserved stay within `limit`, the park within `limit`, the deferred set
/// within the number of queues, the deferred ids within `max_deferred_ids`
/// (past it a queue's backlog is unknown until a scan finds its end).
class IntakeLedger {
 public:
  explicit IntakeLedger(int64_t limit);

  /// Deferred ids kept at most, over all queues: `max(1024, 8 * limit)`.
  int64_t max_deferred_ids() const {
    return max_deferred_ids_;
  }

  /// A notification without a lease: `Available{queue, id}` or a `Message`
  /// with `leased == false` (its processor claims it first). While its
  /// queue has a backlog (deferred ids not yet claimed, or ids not kept and
  /// no scan has found the queue's end since) it is deferred too, even with
  /// room, so that new messages do not overtake waiting ones.
  Admission admit_unleased(const std::string& queue, int64_t id);

  /// A message pushed with a lease. `park` keeps it in the ledger.
  Admission admit_leased(const messaging::QueuedMessage& message);

  /// Reserves room for a poll of up to `wanted` messages of `queue` and
  /// returns the grant: the queue's oldest deferred ids that fit (those not
  /// in flight) and, when `scan` asks for it or ids were not kept, a scan
  /// for the rest of the room. Without either it grants nothing. Saturated,
  /// it grants nothing and remembers `queue` for `take_deferred` (and a
  /// scan asked for as a backlog not known). Draining grants nothing.
  PollGrant reserve(const std::string& queue, int64_t wanted, bool scan);

  /// A message a reserved poll returned (leased): it takes one unit of the
  /// reservation. Returns `route`, or `release` while draining.
  Admission admit_polled(const std::string& queue, int64_t id);

  /// Returns the unused part of a poll's reservation.
  void unreserve(int64_t units);

  /// A poll of `queue` granted `granted` and read `read` messages. A scan
  /// that read fewer found the queue's end: no backlog is unknown. Deferred
  /// ids left make `take_deferred` return the queue again.
  void polled(const std::string& queue, int64_t granted, int64_t read,
              bool scanned);

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
  void remember_deferred(const std::string& queue, int64_t id);
  bool has_backlog(const std::string& queue) const;

  int64_t limit_;
  int64_t in_flight_ = 0;
  int64_t reserved_ = 0;
  bool draining_ = false;
  bool saturated_ = false;
  std::unordered_map<Key, InFlight, KeyHash> messages_;
  std::deque<messaging::QueuedMessage> parked_;
  std::set<std::string> deferred_;
  /// Ids of deferred notifications per queue, oldest first.
  std::unordered_map<std::string, std::deque<int64_t>> deferred_ids_;
  int64_t deferred_id_count_ = 0;
  int64_t max_deferred_ids_;
  /// Queues with deferred notifications whose ids were not kept.
  std::set<std::string> unknown_backlog_;
  channels::EventSystemStats stats_;
};

} // namespace tasker::actors
