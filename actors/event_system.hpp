#pragma once

#include "actors/fallback_poller.hpp"
#include "actors/notification_router.hpp"
#include "actors/provider_listener.hpp"
#include "channels/actor_interfaces.hpp"
#include "config/deployment_mode.hpp"
#include "config/node_config.hpp"
#include "core/logger.hpp"
#include "messaging/messaging_provider.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace tasker::actors {

/// What an event system needs to know besides its provider and processor.
struct EventSystemOptions {
  /// "orchestration" or "worker": names it in logs and status.
  std::string name;
  std::vector<std::string> queues;
  config::EventSystemConfig config;
  /// The configuration key of `config.deployment_mode`, named in the notice
  /// when the mode is overridden for the provider.
  std::string mode_key;
};

/// True when the provider's calls may block on the network (its listener
/// and poller then run detached, on their own threads).
bool provider_blocks(const messaging::MessagingProvider& provider);

/// One node role's intake: resolves the deployment mode against the
/// provider (`resolve_deployment_mode`, logging a notice when it differs),
/// then starts a router and its fallback poller, plus a provider listener
/// unless the mode is `PollingOnly`. The poller reads on its timer unless
/// the mode is `EventDrivenOnly`; then it reads only when the router asks
/// (after a listener gap, or when capacity frees). The actors are linked to
/// it. `ShutdownEventSystem` is its shutdown gate: drain the router up to
/// the deadline (nothing new routed, no reads; parked messages stay with
/// the subscription) and answer with the drain report; then, once the
/// processor has terminated, stop everything. The listener's subscription lasts
/// until then: the processor may still be acking messages it leased (a worker
/// answers a command when the handler returns, before the result's send
/// and the ack). Unexpected termination of a child stops it too.
template <class Processor, class Route>
class EventSystem : public channels::event_system_actor::base {
 public:
  using Router = NotificationRouter<Processor, Route>;

  EventSystem(caf::actor_config& cfg, messaging::MessagingProvider provider,
              Processor processor, typename Router::RouteFunction route,
              EventSystemOptions options)
      : channels::event_system_actor::base(cfg), provider_(std::move(provider)),
        processor_(std::move(processor)), route_(route),
        options_(std::move(options)) {}

  const char* name() const override {
    return "event_system";
  }

  behavior_type make_behavior() override {
    start();
    set_exit_handler([this](caf::exit_msg& msg) {
      bool child = msg.source == router_.address()
                   || (listener_ && msg.source == listener_.address());
      if (child && stopping_)
        return;
      if (child && msg.reason)
        core::log_error(component(), "stopping: a linked actor terminated ("
                                         + caf::to_string(msg.reason) + ")");
      quit(msg.reason);
    });
    return {
        [this](channels::GetEventSystemStatus&) {
          auto promise = make_response_promise<channels::EventSystemStatus>();
          request(router_, caf::infinite, channels::GetEventSystemStats{})
              .then(
                  [this, promise](channels::EventSystemStats& stats) mutable {
                    auto status = status_;
                    status.stats = stats;
                    promise.deliver(std::move(status));
                  },
                  [promise](caf::error& err) mutable {
                    promise.deliver(std::move(err));
                  });
          return promise;
        },
        [this](channels::ShutdownEventSystem& request) {
          return shut_down(request.deadline_ms);
        },
    };
  }

  // Drops the handles, so that terminated actors are destroyed.
  void on_exit() override {
    router_ = nullptr;
    listener_ = nullptr;
    processor_ = nullptr;
  }

 private:
  std::string component() const {
    return options_.name + " event system";
  }

  void start() {
    const auto& config = options_.config;
    auto capabilities = provider_.capabilities();
    auto effective = config::resolve_deployment_mode(
        config.deployment_mode, provider_.provider_name(),
        capabilities.requires_fallback_polling, options_.mode_key, component());
    bool blocking = provider_blocks(provider_);
    status_.name = options_.name;
    status_.provider = std::string{provider_.provider_name()};
    status_.effective_mode = std::string{config::to_string(effective.mode)};
    status_.mode_overridden = effective.overridden;
    status_.queues = options_.queues;
    status_.listener = effective.mode != config::DeploymentMode::polling_only;
    status_.poll_timer
        = effective.mode != config::DeploymentMode::event_driven_only;

    FallbackPollerOptions poller_options{
        options_.queues, status_.poll_timer,
        std::chrono::milliseconds{config.fallback_polling_interval_ms},
        static_cast<int32_t>(config.batch_size),
        std::chrono::seconds{config.visibility_timeout_seconds}};
    PollerFactory make_poller
        = [provider = provider_, poller_options,
           blocking](caf::local_actor* router_self,
                     channels::notification_router_actor router) {
            if (blocking)
              return router_self
                  ->spawn<FallbackPoller, caf::linked + caf::detached>(
                      provider, std::move(router), poller_options);
            return router_self->spawn<FallbackPoller, caf::linked>(
                provider, std::move(router), poller_options);
          };
    router_ = spawn<Router, caf::linked>(processor_, std::move(make_poller),
                                         route_, config.max_in_flight);
    if (status_.listener) {
      ProviderListenerOptions listener_options;
      listener_options.queues = options_.queues;
      listener_options.poll_after_subscribe
          = capabilities.requires_fallback_polling && !status_.poll_timer;
      if (blocking)
        listener_ = spawn<ProviderListener, caf::linked + caf::detached>(
            provider_, router_, std::move(listener_options));
      else
        listener_ = spawn<ProviderListener, caf::linked>(
            provider_, router_, std::move(listener_options));
    }
    core::log_info(
        component(),
        "provider " + status_.provider + ", mode " + status_.effective_mode
            + ", " + std::to_string(options_.queues.size())
            + " queue(s), listener " + (status_.listener ? "on" : "off")
            + ", poller "
            + (status_.poll_timer
                   ? "every "
                         + std::to_string(config.fallback_polling_interval_ms)
                         + " ms"
                   : "on demand")
            + ", at most " + std::to_string(config.max_in_flight)
            + " command(s) in flight");
  }

  caf::typed_response_promise<channels::DrainReport>
  shut_down(int64_t deadline_ms) {
    auto promise = make_response_promise<channels::DrainReport>();
    if (stopping_) {
      promise.deliver(channels::to_caf_error(
          core::Error{core::ErrorCode::invalid_argument,
                      component() + " is shutting down already"}));
      return promise;
    }
    stopping_ = true;
    core::log_info(component(), "shutting down: intake stopped, draining up to "
                                    + std::to_string(deadline_ms) + " ms");
    request(router_, caf::infinite, channels::DrainEventSystem{deadline_ms})
        .then(
            [this, promise](channels::DrainReport& report) mutable {
              core::log_info(
                  component(),
                  std::string{"drained: "}
                      + (report.drained ? "nothing in flight" : "deadline")
                      + ", " + std::to_string(report.abandoned) + " abandoned, "
                      + std::to_string(report.released)
                      + " handed back; stopping with the processor");
              promise.deliver(report);
              quit_with_processor();
            },
            [this, promise](caf::error& err) mutable {
              promise.deliver(std::move(err));
              quit_with_processor();
            });
    return promise;
  }

  // Stops when the processor has terminated (at once if it has).
  void quit_with_processor() {
    set_down_handler([this](caf::down_msg&) {
      quit(caf::exit_reason::user_shutdown);
    });
    monitor(processor_);
  }

  messaging::MessagingProvider provider_;
  Processor processor_;
  typename Router::RouteFunction route_;
  EventSystemOptions options_;
  channels::notification_router_actor router_;
  channels::provider_listener_actor listener_;
  channels::EventSystemStatus status_;
  bool stopping_ = false;
};

// Instantiated once, in event_system.cpp.
extern template class NotificationRouter<
    channels::orchestration_processor_actor, OrchestrationRoute>;
extern template class NotificationRouter<channels::worker_processor_actor,
                                         WorkerRoute>;
extern template class EventSystem<channels::orchestration_processor_actor,
                                  OrchestrationRoute>;
extern template class EventSystem<channels::worker_processor_actor,
                                  WorkerRoute>;

/// The orchestration node's event system.
using OrchestrationEventSystem
    = EventSystem<channels::orchestration_processor_actor, OrchestrationRoute>;

/// A worker node's event system.
using WorkerEventSystem
    = EventSystem<channels::worker_processor_actor, WorkerRoute>;

} // namespace tasker::actors
