#pragma once

#include "core/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::config {

// -- enums --------------------------------------------------------------------

/// How the delay between retries grows. The default is `exponential`, the
/// reference system's default (which parses the key but never applies it).
enum class BackoffKind {
  /// Retry immediately.
  none,
  /// `base * n` before retry n.
  linear,
  /// `base * 2^(n-1)` before retry n (the default).
  exponential,
  /// `base * fib(n)` before retry n (1, 1, 2, 3, 5, ...).
  fibonacci,
};

/// Returns the YAML spelling, e.g. "exponential".
std::string_view to_string(BackoffKind kind);

/// Parses "none", "linear", "exponential" or "fibonacci".
std::optional<BackoffKind> parse_backoff_kind(std::string_view text);

/// The role of a step in the DAG. Only `standard` steps are executed so far;
/// the others are parsed and validated so that reference templates load.
enum class StepType {
  /// Runs once its dependencies are complete (the default).
  standard,
  /// Chooses at run time which declared children to create; needs a parent.
  decision,
  /// Waits for those of its declared dependencies that were created.
  deferred_convergence,
  /// Splits its input into batches handled by `batch_worker` instances.
  batchable,
  /// A blueprint instantiated per batch; never enqueued itself.
  batch_worker,
};

/// Returns the YAML spelling, e.g. "deferred_convergence".
std::string_view to_string(StepType type);

/// Parses one of the five YAML spellings of a step type.
std::optional<StepType> parse_step_type(std::string_view text);

/// What the staleness sweep does with a task stuck beyond its thresholds.
enum class StalenessAction {
  /// Record a dead-letter entry and move the task to `error`.
  dlq,
  /// Move the task to `error` without a dead-letter entry.
  error,
  /// Only report it.
  none,
};

/// Returns the YAML spelling, e.g. "dlq".
std::string_view to_string(StalenessAction action);

/// Parses "dlq", "error" or "none".
std::optional<StalenessAction> parse_staleness_action(std::string_view text);

// -- template model -----------------------------------------------------------

/// A step's retry settings. The defaults are the reference system's.
struct RetryPolicy {
  /// Whether a retryable failure is retried at all.
  bool retryable = true;
  /// Attempts in total, the first one included.
  int32_t max_attempts = 3;
  /// Growth of the delay between attempts.
  BackoffKind backoff = BackoffKind::exponential;
  /// Delay before the first retry, in milliseconds.
  int64_t backoff_base_ms = 1000;
  /// Upper bound of any delay, in milliseconds.
  int64_t max_backoff_ms = 30000;
  /// Random spread of each delay, ± this percent of it (0–100).
  int32_t jitter_percent = 0;
};

/// How a worker finds and configures the code that runs a step.
struct HandlerDefinition {
  /// The lookup key of the handler, e.g. "tasker.square".
  std::string callable;
  /// The handler method to invoke.
  std::string method = "call";
  /// A resolver hint that bypasses the resolver chain.
  std::optional<std::string> resolver;
  /// Static configuration handed to the handler (a JSON object).
  nlohmann::json initialization = nlohmann::json::object();
};

/// One node of a template's DAG.
struct StepDefinition {
  /// Unique within the template.
  std::string name;
  std::string description;
  HandlerDefinition handler;
  StepType type = StepType::standard;
  /// Names of the steps that must complete first (YAML alias `depends_on`).
  std::vector<std::string> dependencies;
  RetryPolicy retry;
  /// Per-attempt time limit; unset means the worker's global limit.
  std::optional<int32_t> timeout_seconds;
  /// Keys of the step mapping that are not modelled above (publishes_events,
  /// batch_config, result_schema, composition, unknown keys, ...), with the
  /// YAML structure preserved: `retry: {limit: 5}` lands in
  /// `extra["retry"]["limit"]`.
  nlohmann::json extra = nlohmann::json::object();
  /// 1-based line of the step in its source file; 0 when unknown.
  int source_line = 0;
};

/// Per-template overrides of the staleness thresholds; unset fields fall
/// back to the node configuration.
struct Lifecycle {
  std::optional<int32_t> max_duration_minutes;
  std::optional<int32_t> max_waiting_for_dependencies_minutes;
  std::optional<int32_t> max_waiting_for_retry_minutes;
  std::optional<int32_t> max_steps_in_process_minutes;
  std::optional<StalenessAction> staleness_action;
  std::optional<bool> auto_fail_on_timeout;
  std::optional<bool> auto_dlq_on_timeout;
};

/// A named, versioned workflow: a DAG of steps plus its metadata, identified
/// by `(namespace_name, name, version)`.
struct TaskTemplate {
  std::string name;
  std::string namespace_name;
  std::string version;
  std::string description;
  /// Free-form documentation data; null when absent.
  nlohmann::json metadata;
  /// JSON Schema of the task context; null when absent.
  nlohmann::json input_schema;
  std::vector<StepDefinition> steps;
  Lifecycle lifecycle;
  /// Top-level keys that are not modelled above (system_dependencies,
  /// domain_events, environments, task_handler, unknown keys), with the YAML
  /// structure preserved like `StepDefinition::extra`.
  nlohmann::json extra = nlohmann::json::object();
  /// The file (or source name) the template was parsed from.
  std::string source_file;

  /// Returns the step named `step_name`, or null.
  const StepDefinition* find_step(std::string_view step_name) const;

  /// Returns `worker_{namespace_name}_queue`, the queue its steps go to.
  std::string queue_name() const;

  /// Returns the step names so that every step follows its dependencies;
  /// ties keep declaration order. Fails on an unknown dependency or a cycle.
  core::Result<std::vector<std::string>> topological_order() const;

  /// Groups the step names by depth: level 0 holds the steps without
  /// dependencies, level n the steps whose deepest dependency is on level
  /// n - 1. Names keep declaration order within a level. Fails like
  /// `topological_order`.
  core::Result<std::vector<std::vector<std::string>>> dependency_levels() const;
};

} // namespace tasker::config
