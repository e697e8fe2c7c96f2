#pragma once

#include "actors/routed_command.hpp"
#include "channels/actor_interfaces.hpp"
#include "core/logger.hpp"

#include <caf/response_type.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tasker::actors {

/// What a router keeps: its counters and where poll requests go.
struct NotificationRouterState {
  static inline const char* name = "notification_router";
  channels::EventSystemStats stats;
  /// Receives `PollRequested`; may be null (no fallback poller running).
  channels::fallback_poller_actor poller;
};

/// The router interface (the orchestration and worker routers accept the
/// same messages; they differ in what they route to).
using router_actor = channels::orchestration_router_actor;

using router_pointer = router_actor::stateful_pointer<NotificationRouterState>;

/// Turns each `NotificationReceived` into the command `route` chooses and
/// requests it from `processor`, so that notifications and polls meet in
/// one place. Counts notifications, routed commands, commands in flight
/// (the peak too) and notifications for queues it cannot route, which are
/// logged, never dropped silently. `Route` is `OrchestrationRoute` or
/// `WorkerRoute`; `route` one of `route_orchestration`, `route_worker`.
template <class Processor, class Route>
router_actor::behavior_type
notification_router(router_pointer self, Processor processor,
                    channels::fallback_poller_actor poller,
                    Route (*route)(messaging::MessageNotification)) {
  self->state.poller = std::move(poller);
  return {
      [self, processor, route](channels::NotificationReceived& received) {
        auto& stats = self->state.stats;
        ++stats.notifications;
        auto routed = route(std::move(received.notification));
        std::visit(
            [&](auto& command) {
              using Command = std::decay_t<decltype(command)>;
              if constexpr (std::is_same_v<Command, UnroutableNotification>) {
                ++stats.unknown_queue;
                core::log_warn("router", "notification for queue '"
                                             + command.queue + "' (role "
                                             + command.role
                                             + ") cannot be routed; counted");
              } else if constexpr (std::is_same_v<Command,
                                                  channels::PollRequested>) {
                if (self->state.poller)
                  self->send(self->state.poller, std::move(command));
              } else {
                using Reply
                    = caf::detail::tl_head_t<typename caf::response_type<
                        caf::signatures_of_t<Processor>, Command>::type>;
                ++stats.commands_routed;
                stats.max_in_flight
                    = std::max(stats.max_in_flight, ++stats.in_flight);
                self->request(processor, caf::infinite, std::move(command))
                    .then(
                        [self](Reply&) {
                          --self->state.stats.in_flight;
                        },
                        [self](caf::error& err) {
                          --self->state.stats.in_flight;
                          core::log_warn("router", "command failed: "
                                                       + caf::to_string(err));
                        });
              }
            },
            routed);
      },
      [self](channels::GetEventSystemStats&) {
        return self->state.stats;
      },
  };
}

} // namespace tasker::actors
