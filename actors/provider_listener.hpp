#pragma once

#include "channels/actor_interfaces.hpp"
#include "messaging/messaging_provider.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace tasker::actors {

struct ProviderListenerOptions {
  std::vector<std::string> queues;
  /// After each successful subscribe, ask the router to poll every queue
  /// once: notifications sent before the subscription were missed. For
  /// providers that need fallback polling; a push provider delivers its
  /// backlog itself.
  bool poll_after_subscribe = false;
  /// Delay before retrying a failed subscribe; doubles up to `retry_max`.
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{5000};
};

/// Holds an event system's push subscription and forwards each
/// notification the provider delivers to the router, from the provider's
/// thread, without blocking it. A failed subscribe is logged and retried
/// with backoff (the poller, if any, keeps the node working meanwhile).
/// Terminating cancels the subscription. `subscribe` may block on the
/// network: run it detached unless the provider is in memory.
class ProviderListener : public channels::provider_listener_actor::base {
 public:
  ProviderListener(caf::actor_config& cfg,
                   messaging::MessagingProvider provider,
                   channels::notification_router_actor router,
                   ProviderListenerOptions options);

  const char* name() const override {
    return "provider_listener";
  }

  behavior_type make_behavior() override;

  void on_exit() override;

 private:
  void subscribe();

  messaging::MessagingProvider provider_;
  channels::notification_router_actor router_;
  ProviderListenerOptions options_;
  messaging::Subscription subscription_;
  channels::ListenerStatus status_;
  std::chrono::milliseconds retry_delay_;
};

} // namespace tasker::actors
