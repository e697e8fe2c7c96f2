#include "config/task_template.hpp"

#include "config/queue_names.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <unordered_map>
#include <utility>

namespace tasker::config {

namespace {

constexpr std::array kBackoffKinds{BackoffKind::none, BackoffKind::linear,
                                   BackoffKind::exponential,
                                   BackoffKind::fibonacci};

constexpr std::array kStepTypes{StepType::standard, StepType::decision,
                                StepType::deferred_convergence,
                                StepType::batchable, StepType::batch_worker};

constexpr std::array kStalenessActions{
    StalenessAction::dlq, StalenessAction::error, StalenessAction::none};

template <class Enum, std::size_t N>
std::optional<Enum> parse_enum(const std::array<Enum, N>& values,
                               std::string_view text) {
  for (auto value : values)
    if (to_string(value) == text)
      return value;
  return std::nullopt;
}

// Maps every step to the indices of its dependencies, or fails on a
// dependency that names no step.
core::Result<std::vector<std::vector<std::size_t>>>
dependency_indices(const TaskTemplate& tpl) {
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < tpl.steps.size(); ++i)
    index.emplace(tpl.steps[i].name, i);
  std::vector<std::vector<std::size_t>> parents(tpl.steps.size());
  for (std::size_t i = 0; i < tpl.steps.size(); ++i) {
    for (const auto& dep : tpl.steps[i].dependencies) {
      auto it = index.find(dep);
      if (it == index.end())
        return core::Error{core::ErrorCode::invalid_template,
                           "step '" + tpl.steps[i].name
                               + "' depends on unknown step '" + dep + "'"};
      parents[i].push_back(it->second);
    }
  }
  return parents;
}

// Kahn's algorithm that always picks the lowest ready index, so the order is
// deterministic and follows declaration order where the DAG allows it.
core::Result<std::vector<std::size_t>>
topological_indices(const TaskTemplate& tpl) {
  auto parents = dependency_indices(tpl);
  if (!parents)
    return parents.error();
  const auto n = tpl.steps.size();
  std::vector<std::size_t> missing(n);
  std::vector<std::vector<std::size_t>> children(n);
  for (std::size_t i = 0; i < n; ++i) {
    missing[i] = parents->at(i).size();
    for (auto p : parents->at(i))
      children[p].push_back(i);
  }
  std::vector<std::size_t> order;
  std::vector<bool> done(n, false);
  while (order.size() < n) {
    auto next = n;
    for (std::size_t i = 0; i < n && next == n; ++i)
      if (!done[i] && missing[i] == 0)
        next = i;
    if (next == n) {
      std::string stuck;
      for (std::size_t i = 0; i < n; ++i)
        if (!done[i])
          stuck += (stuck.empty() ? "'" : ", '") + tpl.steps[i].name + "'";
      return core::Error{core::ErrorCode::invalid_template,
                         "template '" + tpl.name
                             + "' has a dependency cycle among steps " + stuck};
    }
    done[next] = true;
    order.push_back(next);
    for (auto child : children[next])
      --missing[child];
  }
  return order;
}

} // namespace

std::string_view to_string(BackoffKind kind) {
  switch (kind) {
    case BackoffKind::none: return "none";
    case BackoffKind::linear: return "linear";
    case BackoffKind::exponential: return "exponential";
    case BackoffKind::fibonacci: return "fibonacci";
  }
  return "exponential";
}

std::optional<BackoffKind> parse_backoff_kind(std::string_view text) {
  return parse_enum(kBackoffKinds, text);
}

std::string_view to_string(StepType type) {
  switch (type) {
    case StepType::standard: return "standard";
    case StepType::decision: return "decision";
    case StepType::deferred_convergence: return "deferred_convergence";
    case StepType::batchable: return "batchable";
    case StepType::batch_worker: return "batch_worker";
  }
  return "standard";
}

std::optional<StepType> parse_step_type(std::string_view text) {
  return parse_enum(kStepTypes, text);
}

std::string_view to_string(StalenessAction action) {
  switch (action) {
    case StalenessAction::dlq: return "dlq";
    case StalenessAction::error: return "error";
    case StalenessAction::none: return "none";
  }
  return "dlq";
}

std::optional<StalenessAction> parse_staleness_action(std::string_view text) {
  return parse_enum(kStalenessActions, text);
}

const StepDefinition*
TaskTemplate::find_step(std::string_view step_name) const {
  auto it = std::find_if(steps.begin(), steps.end(), [&](const auto& s) {
    return s.name == step_name;
  });
  return it == steps.end() ? nullptr : &*it;
}

std::string TaskTemplate::queue_name() const {
  return worker_queue_name(namespace_name);
}

core::Result<std::vector<std::string>> TaskTemplate::topological_order() const {
  auto order = topological_indices(*this);
  if (!order)
    return order.error();
  std::vector<std::string> names;
  names.reserve(order->size());
  for (auto i : *order)
    names.push_back(steps[i].name);
  return names;
}

core::Result<std::vector<std::vector<std::string>>>
TaskTemplate::dependency_levels() const {
  auto order = topological_indices(*this);
  if (!order)
    return order.error();
  auto parents = dependency_indices(*this);
  std::vector<std::size_t> level(steps.size(), 0);
  std::size_t depth = 0;
  for (auto i : *order) {
    for (auto p : parents->at(i))
      level[i] = std::max(level[i], level[p] + 1);
    depth = std::max(depth, level[i] + 1);
  }
  std::vector<std::vector<std::string>> levels(depth);
  for (std::size_t i = 0; i < steps.size(); ++i)
    levels[level[i]].push_back(steps[i].name);
  return levels;
}

} // namespace tasker::config
