#include "config/deployment_mode.hpp"

#include "core/logger.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace tasker::config;

TEST_CASE("deployment modes parse in reference and snake_case spelling") {
  CHECK(parse_deployment_mode("Hybrid") == DeploymentMode::hybrid);
  CHECK(parse_deployment_mode("hybrid") == DeploymentMode::hybrid);
  CHECK(parse_deployment_mode("EventDrivenOnly")
        == DeploymentMode::event_driven_only);
  CHECK(parse_deployment_mode("polling_only") == DeploymentMode::polling_only);
  CHECK_FALSE(parse_deployment_mode("Polling").has_value());
  CHECK_FALSE(parse_deployment_mode("").has_value());
  for (auto mode : {DeploymentMode::event_driven_only,
                    DeploymentMode::polling_only, DeploymentMode::hybrid})
    CHECK(parse_deployment_mode(to_string(mode)) == mode);
}

TEST_CASE("a provider that needs fallback polling keeps the configured mode") {
  for (auto mode : {DeploymentMode::polling_only, DeploymentMode::hybrid}) {
    auto eff = effective_for_provider(mode, "pgmq", true, "worker.x");
    CHECK(eff.mode == mode);
    CHECK_FALSE(eff.overridden);
    CHECK(eff.notice.empty());
  }
}

TEST_CASE("event-driven only on a lossy provider is kept with a warning") {
  auto eff
      = effective_for_provider(DeploymentMode::event_driven_only, "pgmq", true,
                               "worker.event_system.deployment_mode");
  CHECK(eff.mode == DeploymentMode::event_driven_only);
  CHECK_FALSE(eff.overridden);
  CHECK(eff.notice.find("worker.event_system.deployment_mode")
        != std::string::npos);
}

TEST_CASE("a push provider runs event-driven only whatever was configured") {
  for (auto mode : {DeploymentMode::polling_only, DeploymentMode::hybrid}) {
    auto eff = effective_for_provider(
        mode, "rabbitmq", false, "orchestration.event_system.deployment_mode");
    CHECK(eff.mode == DeploymentMode::event_driven_only);
    CHECK(eff.overridden);
    CHECK(eff.notice.find("orchestration.event_system.deployment_mode = \""
                          + std::string{to_string(mode)} + "\"")
          != std::string::npos);
    CHECK(eff.notice.find("rabbitmq") != std::string::npos);
  }
  auto same = effective_for_provider(DeploymentMode::event_driven_only,
                                     "rabbitmq", false, "k");
  CHECK_FALSE(same.overridden);
  CHECK(same.notice.empty());
}

TEST_CASE("resolving a forced mode logs one warning naming the setting") {
  using tasker::core::Logger;
  using tasker::core::LogLevel;
  std::vector<std::string> lines;
  Logger::set_sink([&lines](LogLevel level, std::string_view component,
                            std::string_view message) {
    if (level == LogLevel::warn)
      lines.push_back(std::string{component} + ": " + std::string{message});
  });
  auto eff = resolve_deployment_mode(DeploymentMode::hybrid, "rabbitmq", false,
                                     "worker.event_system.deployment_mode",
                                     "worker.event_system");
  auto kept = resolve_deployment_mode(DeploymentMode::hybrid, "pgmq", true,
                                      "worker.event_system.deployment_mode",
                                      "worker.event_system");
  Logger::set_sink({});
  CHECK(eff.mode == DeploymentMode::event_driven_only);
  CHECK(kept.mode == DeploymentMode::hybrid);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].starts_with("worker.event_system: "
                             "worker.event_system.deployment_mode = "
                             "\"Hybrid\" is overridden"));
}
