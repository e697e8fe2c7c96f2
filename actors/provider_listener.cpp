#include "actors/provider_listener.hpp"

#include "core/logger.hpp"

#include <caf/send.hpp>

#include <algorithm>
#include <optional>
#include <utility>

namespace tasker::actors {

ProviderListener::ProviderListener(caf::actor_config& cfg,
                                   messaging::MessagingProvider provider,
                                   channels::notification_router_actor router,
                                   ProviderListenerOptions options)
    : channels::provider_listener_actor::base(cfg),
      provider_(std::move(provider)), router_(std::move(router)),
      options_(std::move(options)), retry_delay_(options_.retry_initial) {}

ProviderListener::behavior_type ProviderListener::make_behavior() {
  subscribe();
  return {
      [this](channels::RetrySubscribe&) {
        if (!subscription_.active())
          subscribe();
      },
      [this](channels::GetListenerStatus&) {
        return status_;
      },
  };
}

void ProviderListener::on_exit() {
  subscription_.cancel();
  router_ = nullptr;
}

void ProviderListener::subscribe() {
  ++status_.attempts;
  auto router = router_;
  auto subscription = provider_.subscribe_many(
      options_.queues, [router](messaging::MessageNotification notification) {
        caf::anon_send(router,
                       channels::NotificationReceived{std::move(notification)});
      });
  if (!subscription) {
    status_.subscribed = false;
    status_.last_error = subscription.error().to_string();
    core::log_warn("listener",
                   "subscribing to " + std::to_string(options_.queues.size())
                       + " queue(s) failed (attempt "
                       + std::to_string(status_.attempts)
                       + "): " + status_.last_error + "; retrying in "
                       + std::to_string(retry_delay_.count()) + " ms");
    delayed_send(this, retry_delay_, channels::RetrySubscribe{});
    retry_delay_ = std::min(retry_delay_ * 2, options_.retry_max);
    return;
  }
  subscription_ = std::move(*subscription);
  status_.subscribed = true;
  retry_delay_ = options_.retry_initial;
  if (options_.poll_after_subscribe)
    for (const auto& queue : options_.queues)
      send(router_, channels::NotificationReceived{
                        messaging::Available{queue, std::nullopt}});
}

} // namespace tasker::actors
