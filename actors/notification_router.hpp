#pragma once

#include "actors/intake_ledger.hpp"
#include "actors/routed_command.hpp"
#include "channels/actor_interfaces.hpp"
#include "channels/error_category.hpp"
#include "core/logger.hpp"

#include <caf/response_type.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace tasker::actors {

/// Spawns a router's fallback poller from the router (`router_self`, so it
/// can link it), handing it the router's handle.
using PollerFactory = std::function<channels::fallback_poller_actor(
    caf::local_actor* router_self, channels::notification_router_actor)>;

/// The meeting point of an event system: turns each notification and each
/// polled message into the command `route` chooses and requests it from
/// `processor`, within the in-flight limit (see `IntakeLedger`):
/// - an unleased notification already in flight is a counted duplicate;
/// - saturated, an unleased notification is deferred (its queue is polled
///   when capacity frees), a leased one parked, or released when the park
///   is full; polls get capacity before they read, so nothing is read that
///   cannot be processed;
/// - notifications for queues it cannot route are counted and logged;
/// - `DrainEventSystem` stops intake, leaves parked and newly pushed
///   messages to the subscription that leased them, and answers when
///   nothing is in flight or at the deadline.
/// `Route` is `OrchestrationRoute` or `WorkerRoute`; `route` one of
/// `route_orchestration`, `route_worker`.
template <class Processor, class Route>
class NotificationRouter : public channels::notification_router_actor::base {
 public:
  using RouteFunction = Route (*)(messaging::MessageNotification);

  /// Leased messages released because the park is full come back after
  /// this delay, not at once (which would spin with a push provider).
  static constexpr std::chrono::milliseconds kSaturatedReleaseDelay{1000};

  NotificationRouter(caf::actor_config& cfg, Processor processor,
                     PollerFactory make_poller, RouteFunction route,
                     int64_t max_in_flight)
      : channels::notification_router_actor::base(cfg),
        processor_(std::move(processor)), make_poller_(std::move(make_poller)),
        route_(route), ledger_(max_in_flight) {}

  const char* name() const override {
    return "notification_router";
  }

  behavior_type make_behavior() override {
    if (make_poller_)
      poller_ = make_poller_(
          this, caf::actor_cast<channels::notification_router_actor>(this));
    return {
        [this](channels::NotificationReceived& received) {
          ++ledger_.stats().notifications;
          on_notification(std::move(received.notification));
        },
        [this](channels::ReservePollCapacity& request) {
          auto grant
              = ledger_.reserve(request.queue, request.wanted, request.scan);
          return channels::PollCapacity{grant.granted, std::move(grant.ids),
                                        grant.scan};
        },
        [this](channels::PolledMessages& polled) {
          on_polled(std::move(polled));
        },
        [this](channels::GetEventSystemStats&) {
          return ledger_.snapshot();
        },
        [this](channels::DrainEventSystem& request) {
          return start_drain(request.deadline_ms);
        },
        [this](channels::DrainDeadline&) {
          finish_drain();
        },
    };
  }

  // Handles form cycles (router and poller hold each other): drop them, so
  // that terminated actors are destroyed (a detached one's thread waits for
  // that).
  void on_exit() override {
    poller_ = nullptr;
    processor_ = nullptr;
  }

 private:
  void on_notification(messaging::MessageNotification notification) {
    std::optional<int64_t> id;
    bool leased = false;
    if (auto available = std::get_if<messaging::Available>(&notification)) {
      id = available->msg_id;
    } else {
      const auto& message = std::get<messaging::Message>(notification).message;
      id = message.id;
      leased = message.leased;
    }
    auto routed = route_(std::move(notification));
    if (auto unroutable = std::get_if<UnroutableNotification>(&routed)) {
      ++ledger_.stats().unknown_queue;
      core::log_warn("router", "notification for queue '" + unroutable->queue
                                   + "' (role " + unroutable->role
                                   + ") cannot be routed; counted");
      return;
    }
    if (auto poll = std::get_if<channels::PollRequested>(&routed)) {
      if (!ledger_.draining())
        request_poll(poll->queue, /*scan*/ true);
      return;
    }
    const auto queue = command_queue(routed);
    auto admission = leased ? ledger_.admit_leased(*command_message(routed))
                            : ledger_.admit_unleased(queue, *id);
    switch (admission) {
      case Admission::route: dispatch(std::move(routed), queue, *id); break;
      case Admission::release: release(queue, {*id}, delay_ms()); break;
      // Deferred behind a backlog with room left: poll the queue now.
      case Admission::defer: after_capacity_change(); break;
      case Admission::duplicate:
      case Admission::park:
      case Admission::hold: break;
    }
  }

  void on_polled(channels::PolledMessages polled) {
    ++ledger_.stats().polls;
    ledger_.stats().polled_messages += polled.messages.size();
    auto unused
        = polled.reserved - static_cast<int64_t>(polled.messages.size());
    ledger_.polled(polled.queue, polled.reserved,
                   static_cast<int64_t>(polled.messages.size()),
                   polled.scanned);
    std::vector<int64_t> released;
    for (auto& message : polled.messages) {
      auto id = message.id;
      if (ledger_.admit_polled(polled.queue, id) == Admission::release) {
        released.push_back(id);
        continue;
      }
      auto routed = route_(messaging::Message{std::move(message)});
      if (std::holds_alternative<UnroutableNotification>(routed)
          || std::holds_alternative<channels::PollRequested>(routed)) {
        ++ledger_.stats().unknown_queue;
        core::log_warn("router", "polled a message of queue '" + polled.queue
                                     + "' it cannot route; released");
        ledger_.complete(polled.queue, id);
        released.push_back(id);
        continue;
      }
      dispatch(std::move(routed), polled.queue, id);
    }
    ledger_.unreserve(unused);
    if (!released.empty())
      release(polled.queue, std::move(released), 0);
    after_capacity_change();
  }

  void dispatch(Route routed, std::string queue, int64_t id) {
    ++ledger_.stats().commands_routed;
    std::visit(
        [&](auto& command) {
          using Command = std::decay_t<decltype(command)>;
          if constexpr (
              !std::is_same_v<
                  Command,
                  UnroutableNotification> && !std::is_same_v<Command, channels::PollRequested>) {
            using Reply = caf::detail::tl_head_t<typename caf::response_type<
                caf::signatures_of_t<Processor>, Command>::type>;
            this->request(processor_, caf::infinite, std::move(command))
                .then(
                    [this, queue, id](Reply&) {
                      on_complete(queue, id);
                    },
                    [this, queue, id](caf::error& err) {
                      core::log_warn("router",
                                     "command for message " + std::to_string(id)
                                         + " of '" + queue
                                         + "' failed: " + caf::to_string(err));
                      on_complete(queue, id);
                    });
          }
        },
        routed);
  }

  void on_complete(const std::string& queue, int64_t id) {
    // Notified again while in flight: it may be visible again, unknown to
    // the ledger.
    if (ledger_.complete(queue, id) && !ledger_.draining())
      request_poll(queue, /*scan*/ true);
    after_capacity_change();
  }

  // Uses freed capacity: parked messages first (they hold leases), then
  // polls of queues whose notifications were deferred.
  void after_capacity_change() {
    while (auto message = ledger_.unpark()) {
      auto queue = message->queue;
      auto id = message->id;
      dispatch(route_(messaging::Message{std::move(*message)}), queue, id);
    }
    for (auto& queue : ledger_.take_deferred())
      request_poll(queue);
    if (ledger_.draining() && ledger_.idle())
      finish_drain();
  }

  void request_poll(const std::string& queue, bool scan = false) {
    if (poller_)
      this->send(poller_, channels::PollRequested{queue, scan});
  }

  void release(const std::string& queue, std::vector<int64_t> ids,
               int64_t delay) {
    if (poller_)
      this->send(poller_,
                 channels::ReleaseMessages{queue, std::move(ids), delay});
  }

  caf::typed_response_promise<channels::DrainReport>
  start_drain(int64_t deadline_ms) {
    auto promise = this->make_response_promise<channels::DrainReport>();
    if (draining_promise_) {
      promise.deliver(channels::to_caf_error(
          core::Error{core::ErrorCode::invalid_argument,
                      "the event system is draining already"}));
      return promise;
    }
    draining_promise_ = promise;
    if (poller_)
      this->send(poller_, channels::StopPolling{});
    ledger_.start_drain();
    if (ledger_.idle())
      finish_drain();
    else
      this->delayed_send(this, std::chrono::milliseconds{deadline_ms},
                         channels::DrainDeadline{});
    return promise;
  }

  // Answers the drain once: when idle, or at the deadline with what is left.
  void finish_drain() {
    if (!draining_promise_ || drain_answered_)
      return;
    drain_answered_ = true;
    channels::DrainReport report{
        ledger_.idle(), ledger_.in_flight(),
        static_cast<int64_t>(ledger_.stats().released)};
    if (!report.drained)
      core::log_warn("router",
                     "drain deadline reached with "
                         + std::to_string(report.abandoned)
                         + " command(s) in flight; their messages come back "
                           "after their visibility timeout");
    if (!poller_) {
      draining_promise_->deliver(report);
      return;
    }
    // The poller answers after the releases sent before, so the report
    // means "handed back".
    this->request(poller_, caf::infinite, channels::FinishPolling{})
        .then(
            [this, report](channels::PollerFinished& finished) mutable {
              report.released = finished.released;
              draining_promise_->deliver(report);
            },
            [this, report](caf::error&) {
              draining_promise_->deliver(report);
            });
  }

  static const std::string& command_queue(const Route& routed) {
    return std::visit(
        [](const auto& command) -> const std::string& {
          if constexpr (requires { command.message.queue; })
            return command.message.queue;
          else
            return command.queue;
        },
        routed);
  }

  // The message a `…FromMessage` command carries; null for the others.
  static const messaging::QueuedMessage* command_message(const Route& routed) {
    return std::visit(
        [](const auto& command) -> const messaging::QueuedMessage* {
          if constexpr (requires { command.message.queue; })
            return &command.message;
          else
            return nullptr;
        },
        routed);
  }

  static int64_t delay_ms() {
    return kSaturatedReleaseDelay.count();
  }

  Processor processor_;
  PollerFactory make_poller_;
  RouteFunction route_;
  IntakeLedger ledger_;
  channels::fallback_poller_actor poller_;
  std::optional<caf::typed_response_promise<channels::DrainReport>>
      draining_promise_;
  bool drain_answered_ = false;
};

} // namespace tasker::actors
