#include "config/deployment_mode.hpp"

#include "core/logger.hpp"

namespace tasker::config {

std::string_view to_string(DeploymentMode mode) {
  switch (mode) {
    case DeploymentMode::event_driven_only: return "EventDrivenOnly";
    case DeploymentMode::polling_only: return "PollingOnly";
    case DeploymentMode::hybrid: return "Hybrid";
  }
  return "Hybrid";
}

std::optional<DeploymentMode> parse_deployment_mode(std::string_view text) {
  if (text == "EventDrivenOnly" || text == "event_driven_only")
    return DeploymentMode::event_driven_only;
  if (text == "PollingOnly" || text == "polling_only")
    return DeploymentMode::polling_only;
  if (text == "Hybrid" || text == "hybrid")
    return DeploymentMode::hybrid;
  return std::nullopt;
}

EffectiveDeploymentMode
effective_for_provider(DeploymentMode configured, std::string_view provider,
                       bool provider_requires_fallback_polling,
                       std::string_view setting_key) {
  EffectiveDeploymentMode result;
  result.mode = configured;
  auto setting = std::string{setting_key} + " = \""
                 + std::string{to_string(configured)} + "\"";
  if (!provider_requires_fallback_polling) {
    if (configured == DeploymentMode::event_driven_only)
      return result;
    result.mode = DeploymentMode::event_driven_only;
    result.overridden = true;
    result.notice = setting + " is overridden: provider '"
                    + std::string{provider}
                    + "' pushes every message and needs no polling; running "
                      "EventDrivenOnly";
    return result;
  }
  if (configured == DeploymentMode::event_driven_only)
    result.notice = setting + " on provider '" + std::string{provider}
                    + "', whose notifications can be lost: a missed "
                      "notification is only recovered by a later one or a "
                      "restart; Hybrid is recommended";
  return result;
}

EffectiveDeploymentMode
resolve_deployment_mode(DeploymentMode configured, std::string_view provider,
                        bool provider_requires_fallback_polling,
                        std::string_view setting_key,
                        std::string_view component) {
  auto result = effective_for_provider(
      configured, provider, provider_requires_fallback_polling, setting_key);
  if (!result.notice.empty())
    core::log_warn(component, result.notice);
  return result;
}

} // namespace tasker::config
