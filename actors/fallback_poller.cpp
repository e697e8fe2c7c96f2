#include "actors/fallback_poller.hpp"

#include "core/logger.hpp"

#include <iterator>
#include <optional>
#include <utility>

namespace tasker::actors {

FallbackPoller::FallbackPoller(caf::actor_config& cfg,
                               messaging::MessagingProvider provider,
                               channels::notification_router_actor router,
                               FallbackPollerOptions options)
    : channels::fallback_poller_actor::base(cfg),
      provider_(std::move(provider)), router_(std::move(router)),
      options_(std::move(options)) {}

FallbackPoller::behavior_type FallbackPoller::make_behavior() {
  // The first tick at once: it reads what was sent before anyone listened.
  if (options_.timer)
    send(this, channels::PollTick{});
  return {
      [this](channels::PollTick&) {
        if (stopped_)
          return;
        for (const auto& queue : options_.queues)
          poll(queue, /*scan*/ true);
        delayed_send(this, options_.interval, channels::PollTick{});
      },
      [this](channels::PollRequested& request) {
        if (!stopped_)
          poll(request.queue, request.scan);
      },
      [this](channels::ReleaseMessages& request) {
        release(request);
      },
      [this](channels::StopPolling&) {
        stopped_ = true;
      },
      [this](channels::FinishPolling&) {
        stopped_ = true;
        return channels::PollerFinished{released_, release_failures_};
      },
  };
}

void FallbackPoller::on_exit() {
  // Router and poller hold each other's handles: break the cycle.
  router_ = nullptr;
}

void FallbackPoller::poll(const std::string& queue, bool scan) {
  if (reading_.count(queue) > 0) {
    again_[queue] = again_[queue] || scan;
    return;
  }
  reading_.insert(queue);
  request(router_, caf::infinite,
          channels::ReservePollCapacity{queue, options_.batch_size, scan})
      .then(
          [this, queue](channels::PollCapacity& capacity) {
            reading_.erase(queue);
            std::optional<bool> asked_again;
            if (auto i = again_.find(queue); i != again_.end()) {
              asked_again = i->second;
              again_.erase(i);
            }
            // A zero grant: the router asks again when capacity frees.
            if (capacity.granted <= 0)
              return;
            read(queue, capacity);
            if (asked_again && !stopped_)
              poll(queue, *asked_again);
          },
          [this, queue](caf::error& err) {
            reading_.erase(queue);
            again_.erase(queue);
            core::log_warn("poller", "capacity request for '" + queue
                                         + "' failed: " + caf::to_string(err));
          });
}

void FallbackPoller::read(const std::string& queue,
                          const channels::PollCapacity& capacity) {
  channels::PolledMessages polled{queue, {}, capacity.granted, capacity.scan};
  bool failed = false;
  if (!capacity.ids.empty()) {
    auto got = provider_.read_by_ids(queue, capacity.ids,
                                     options_.visibility_timeout);
    if (got) {
      polled.messages = std::move(*got);
    } else {
      // The ids stay in the queue: scan for them instead.
      core::log_warn("poller",
                     "reading notified messages of '" + queue
                         + "' by id failed: " + got.error().to_string());
      polled.scanned = true;
    }
  }
  auto wanted = capacity.granted - std::ssize(polled.messages);
  if (polled.scanned && wanted > 0) {
    auto got = provider_.receive(queue, static_cast<int32_t>(wanted),
                                 options_.visibility_timeout);
    if (got) {
      std::move(got->begin(), got->end(), std::back_inserter(polled.messages));
    } else {
      failed = true;
      core::log_warn("poller", "reading '" + queue
                                   + "' failed: " + got.error().to_string());
    }
  }
  bool full = !failed && std::ssize(polled.messages) == capacity.granted;
  auto scanned = polled.scanned;
  send(router_, std::move(polled));
  // A full batch: there may be more; read on while the router grants room.
  if (full && !stopped_)
    poll(queue, scanned);
}

void FallbackPoller::release(const channels::ReleaseMessages& request) {
  auto action = messaging::NackAction::requeue(
      std::chrono::milliseconds{request.delay_ms});
  for (auto id : request.ids) {
    auto done = provider_.nack(request.queue, id, action);
    if (done) {
      ++released_;
    } else {
      ++release_failures_;
      core::log_warn("poller", "handing back message " + std::to_string(id)
                                   + " of '" + request.queue
                                   + "' failed (it comes back after its "
                                     "visibility timeout): "
                                   + done.error().to_string());
    }
  }
}

} // namespace tasker::actors
