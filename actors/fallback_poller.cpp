#include "actors/fallback_poller.hpp"

#include "core/logger.hpp"

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
          poll(queue);
        delayed_send(this, options_.interval, channels::PollTick{});
      },
      [this](channels::PollRequested& request) {
        if (!stopped_)
          poll(request.queue);
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

void FallbackPoller::poll(const std::string& queue) {
  if (reading_.count(queue) > 0) {
    again_.insert(queue);
    return;
  }
  reading_.insert(queue);
  request(router_, caf::infinite,
          channels::ReservePollCapacity{queue, options_.batch_size})
      .then(
          [this, queue](channels::PollCapacity& capacity) {
            reading_.erase(queue);
            bool asked_again = again_.erase(queue) > 0;
            // A zero grant: the router asks again when capacity frees.
            if (capacity.granted <= 0)
              return;
            read(queue, capacity.granted);
            if (asked_again && !stopped_)
              poll(queue);
          },
          [this, queue](caf::error& err) {
            reading_.erase(queue);
            again_.erase(queue);
            core::log_warn("poller", "capacity request for '" + queue
                                         + "' failed: " + caf::to_string(err));
          });
}

void FallbackPoller::read(const std::string& queue, int64_t granted) {
  channels::PolledMessages polled{queue, {}, granted};
  auto got = provider_.receive(queue, static_cast<int32_t>(granted),
                               options_.visibility_timeout);
  if (got)
    polled.messages = std::move(*got);
  else
    core::log_warn("poller", "reading '" + queue
                                 + "' failed: " + got.error().to_string());
  bool full = got && static_cast<int64_t>(polled.messages.size()) == granted;
  send(router_, std::move(polled));
  // A full batch: there may be more; read on while the router grants room.
  if (full && !stopped_)
    poll(queue);
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
