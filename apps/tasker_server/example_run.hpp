#pragma once

#include "config/template_catalog.hpp"
#include "orchestration/orchestration_node.hpp"

#include <caf/actor_system.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ostream>

namespace tasker::apps {

/// The demo of `tasker-server --all-in-one --run-examples`: creates one task
/// of every template with `context`, prints each step as it finishes and
/// each task's result and time, and returns true when every task
/// completed within `limit`.
bool run_examples(caf::actor_system& system,
                  orchestration::OrchestrationNode& node,
                  const config::TemplateCatalog& catalog,
                  const nlohmann::json& context, std::ostream& out,
                  std::chrono::seconds limit);

} // namespace tasker::apps
