#include "actors/intake_ledger.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <utility>

namespace tasker::actors {

IntakeLedger::IntakeLedger(int64_t limit)
    : limit_(std::max<int64_t>(limit, 1)),
      max_deferred_ids_(std::max<int64_t>(1024, 8 * limit_)) {
  stats_.limit = limit_;
}

std::size_t IntakeLedger::KeyHash::operator()(const Key& key) const noexcept {
  return std::hash<std::string>{}(key.queue) * 31
         ^ std::hash<int64_t>{}(key.id);
}

Admission IntakeLedger::admit_unleased(const std::string& queue, int64_t id) {
  if (auto i = messages_.find(Key{queue, id}); i != messages_.end()) {
    i->second.notified_again = true;
    ++stats_.duplicates;
    return Admission::duplicate;
  }
  if (draining_)
    return Admission::defer;
  if (available() <= 0 || has_backlog(queue)) {
    if (available() <= 0)
      note_saturation();
    deferred_.insert(queue);
    remember_deferred(queue, id);
    ++stats_.deferred;
    return Admission::defer;
  }
  start(queue, id);
  return Admission::route;
}

Admission IntakeLedger::admit_leased(const messaging::QueuedMessage& message) {
  if (draining_)
    return Admission::hold;
  if (available() > 0) {
    start(message.queue, message.id);
    return Admission::route;
  }
  note_saturation();
  if (static_cast<int64_t>(parked_.size()) < limit_) {
    parked_.push_back(message);
    return Admission::park;
  }
  ++stats_.released;
  return Admission::release;
}

PollGrant IntakeLedger::reserve(const std::string& queue, int64_t wanted,
                                bool scan) {
  if (draining_ || wanted <= 0)
    return {};
  auto room = std::min(wanted, available());
  if (room <= 0) {
    note_saturation();
    deferred_.insert(queue);
    if (scan)
      unknown_backlog_.insert(queue);
    return {};
  }
  PollGrant grant{0, {}, scan || unknown_backlog_.contains(queue)};
  if (auto i = deferred_ids_.find(queue); i != deferred_ids_.end()) {
    auto& ids = i->second;
    while (!ids.empty() && std::ssize(grant.ids) < room) {
      auto id = ids.front();
      ids.pop_front();
      --deferred_id_count_;
      // A scan may have claimed it meanwhile.
      if (!messages_.contains(Key{queue, id}))
        grant.ids.push_back(id);
    }
    if (ids.empty())
      deferred_ids_.erase(i);
  }
  grant.granted = grant.scan ? room : std::ssize(grant.ids);
  reserved_ += grant.granted;
  return grant;
}

Admission IntakeLedger::admit_polled(const std::string& queue, int64_t id) {
  reserved_ = std::max<int64_t>(reserved_ - 1, 0);
  if (draining_) {
    ++stats_.released;
    return Admission::release;
  }
  start(queue, id);
  return Admission::route;
}

void IntakeLedger::unreserve(int64_t units) {
  reserved_ = std::max<int64_t>(reserved_ - std::max<int64_t>(units, 0), 0);
  if (available() > 0)
    saturated_ = false;
}

void IntakeLedger::polled(const std::string& queue, int64_t granted,
                          int64_t read, bool scanned) {
  if (scanned && read < granted)
    unknown_backlog_.erase(queue);
  if (deferred_ids_.contains(queue))
    deferred_.insert(queue);
}

bool IntakeLedger::complete(const std::string& queue, int64_t id) {
  in_flight_ = std::max<int64_t>(in_flight_ - 1, 0);
  if (available() > 0)
    saturated_ = false;
  auto i = messages_.find(Key{queue, id});
  if (i == messages_.end())
    return false;
  if (--i->second.commands > 0)
    return false;
  bool again = i->second.notified_again;
  messages_.erase(i);
  return again;
}

std::optional<messaging::QueuedMessage> IntakeLedger::unpark() {
  if (parked_.empty() || available() <= 0 || draining_)
    return std::nullopt;
  auto message = std::move(parked_.front());
  parked_.pop_front();
  start(message.queue, message.id);
  return message;
}

std::vector<std::string> IntakeLedger::take_deferred() {
  if (deferred_.empty() || available() <= 0 || draining_)
    return {};
  std::vector<std::string> queues{deferred_.begin(), deferred_.end()};
  deferred_.clear();
  return queues;
}

void IntakeLedger::start_drain() {
  draining_ = true;
  deferred_.clear();
  deferred_ids_.clear();
  deferred_id_count_ = 0;
  unknown_backlog_.clear();
  parked_.clear();
}

channels::EventSystemStats IntakeLedger::snapshot() const {
  auto out = stats_;
  out.in_flight = in_flight_;
  out.limit = limit_;
  out.parked = static_cast<int64_t>(parked_.size());
  return out;
}

void IntakeLedger::start(const std::string& queue, int64_t id) {
  ++messages_[Key{queue, id}].commands;
  ++in_flight_;
  stats_.max_in_flight = std::max(stats_.max_in_flight, in_flight_);
  if (available() <= 0)
    note_saturation();
}

void IntakeLedger::remember_deferred(const std::string& queue, int64_t id) {
  if (deferred_id_count_ >= max_deferred_ids_) {
    unknown_backlog_.insert(queue);
    return;
  }
  deferred_ids_[queue].push_back(id);
  ++deferred_id_count_;
}

bool IntakeLedger::has_backlog(const std::string& queue) const {
  return deferred_ids_.contains(queue) || unknown_backlog_.contains(queue);
}

void IntakeLedger::note_saturation() {
  if (!saturated_) {
    saturated_ = true;
    ++stats_.saturations;
  }
}

} // namespace tasker::actors
