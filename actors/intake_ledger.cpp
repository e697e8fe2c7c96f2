#include "actors/intake_ledger.hpp"

#include <algorithm>
#include <functional>
#include <utility>

namespace tasker::actors {

IntakeLedger::IntakeLedger(int64_t limit)
    : limit_(std::max<int64_t>(limit, 1)) {
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
  if (available() <= 0 || backlog_.contains(queue)) {
    if (available() <= 0)
      note_saturation();
    deferred_.insert(queue);
    backlog_.insert(queue);
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

int64_t IntakeLedger::reserve(const std::string& queue, int64_t wanted) {
  if (draining_ || wanted <= 0)
    return 0;
  auto granted = std::min(wanted, available());
  if (granted <= 0) {
    note_saturation();
    deferred_.insert(queue);
    return 0;
  }
  reserved_ += granted;
  return granted;
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
                          int64_t read) {
  if (read < granted)
    backlog_.erase(queue);
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
  backlog_.clear();
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

void IntakeLedger::note_saturation() {
  if (!saturated_) {
    saturated_ = true;
    ++stats_.saturations;
  }
}

} // namespace tasker::actors
