#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tasker::config {

/// How an event system learns about new messages.
enum class DeploymentMode {
  /// Listener only: push notifications from the provider.
  event_driven_only,
  /// Poller only: read every queue each interval.
  polling_only,
  /// Listener plus a fallback poller that catches what notifications miss.
  hybrid,
};

/// Returns the configuration spelling: "EventDrivenOnly", "PollingOnly" or
/// "Hybrid".
std::string_view to_string(DeploymentMode mode);

/// Parses "EventDrivenOnly" / "PollingOnly" / "Hybrid" (the reference
/// spelling) or their snake_case forms ("event_driven_only", ...).
std::optional<DeploymentMode> parse_deployment_mode(std::string_view text);

/// What an event system actually runs, and why it differs from the setting.
struct EffectiveDeploymentMode {
  DeploymentMode mode = DeploymentMode::hybrid;
  /// True when the configured mode was overridden.
  bool overridden = false;
  /// A log line naming the setting when the mode was overridden or is risky
  /// for this provider; empty otherwise.
  std::string notice;
};

/// Resolves the configured mode against the provider's capabilities. A
/// provider that needs no fallback polling (reliable native push, e.g.
/// RabbitMQ) runs `EventDrivenOnly` whatever was configured; `setting_key`
/// names the configuration key in the notice.
EffectiveDeploymentMode
effective_for_provider(DeploymentMode configured, std::string_view provider,
                       bool provider_requires_fallback_polling,
                       std::string_view setting_key);

/// Resolves like `effective_for_provider` and writes its notice, if any, as
/// one warning line of `component`. Event systems call it once at start.
EffectiveDeploymentMode
resolve_deployment_mode(DeploymentMode configured, std::string_view provider,
                        bool provider_requires_fallback_polling,
                        std::string_view setting_key,
                        std::string_view component);

} // namespace tasker::config
