#include "config/template_validator.hpp"

#include "config/queue_names.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace tasker::config {

namespace {

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_name_char(char c) {
  return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-'
         || c == '.';
}

class Validator {
 public:
  explicit Validator(const TaskTemplate& tpl) : tpl_(tpl) {}

  std::vector<TemplateDiagnostic> run() {
    check_template();
    index_steps();
    for (std::size_t i = 0; i < tpl_.steps.size(); ++i)
      check_step(i);
    check_cycles();
    return std::move(diagnostics_);
  }

 private:
  void report(DiagnosticSeverity severity, const StepDefinition* step,
              std::string message) {
    TemplateDiagnostic d{severity, tpl_.source_file, 0, std::nullopt,
                         std::move(message)};
    if (step) {
      d.line = step->source_line;
      if (!step->name.empty())
        d.step = step->name;
    }
    diagnostics_.push_back(std::move(d));
  }

  void error(const StepDefinition* step, std::string message) {
    report(DiagnosticSeverity::error, step, std::move(message));
  }

  void check_template() {
    if (tpl_.name.empty())
      error(nullptr, "missing required key 'name'");
    else if (auto problem = name_problem(tpl_.name))
      error(nullptr, "invalid template name '" + tpl_.name + "': " + *problem);
    if (tpl_.namespace_name.empty())
      error(nullptr, "missing required key 'namespace_name'");
    else if (auto ns = validate_namespace(tpl_.namespace_name); !ns)
      error(nullptr, ns.error().message());
    if (tpl_.version.empty())
      error(nullptr, "missing required key 'version'");
    if (tpl_.steps.empty())
      error(nullptr, "missing required key 'steps': a template needs at "
                     "least one step");
    const auto& lc = tpl_.lifecycle;
    check_minutes("max_duration_minutes", lc.max_duration_minutes);
    check_minutes("max_waiting_for_dependencies_minutes",
                  lc.max_waiting_for_dependencies_minutes);
    check_minutes("max_waiting_for_retry_minutes",
                  lc.max_waiting_for_retry_minutes);
    check_minutes("max_steps_in_process_minutes",
                  lc.max_steps_in_process_minutes);
  }

  void check_minutes(std::string_view key, const std::optional<int32_t>& v) {
    if (v && *v < 1)
      error(nullptr, "key 'lifecycle." + std::string{key}
                         + "' must be at least 1, got " + std::to_string(*v));
  }

  void index_steps() {
    for (std::size_t i = 0; i < tpl_.steps.size(); ++i) {
      const auto& step = tpl_.steps[i];
      if (step.name.empty())
        continue;
      auto [it, added] = index_.emplace(step.name, i);
      if (!added) {
        const auto& first = tpl_.steps[it->second];
        error(&step, "duplicate step name '" + step.name
                         + "' (first defined on line "
                         + std::to_string(first.source_line) + ")");
      }
    }
  }

  void check_step(std::size_t i) {
    const auto& step = tpl_.steps[i];
    if (step.name.empty())
      error(&step,
            "steps[" + std::to_string(i) + "]: missing required key 'name'");
    else if (auto problem = name_problem(step.name))
      error(&step, "invalid step name '" + step.name + "': " + *problem);
    if (step.handler.callable.empty())
      error(&step, "missing required key 'handler.callable'");
    if (step.handler.method.empty())
      error(&step, "key 'handler.method' must not be empty");
    if (step.type == StepType::decision && step.dependencies.empty())
      error(&step, "a decision step needs a parent: 'dependencies' must "
                   "name at least one step");
    check_dependencies(step);
    const auto& retry = step.retry;
    if (retry.max_attempts < 1)
      error(&step, "key 'retry.max_attempts' must be at least 1, got "
                       + std::to_string(retry.max_attempts));
    if (retry.backoff_base_ms < 0)
      error(&step, "key 'retry.backoff_base_ms' must not be negative, got "
                       + std::to_string(retry.backoff_base_ms));
    if (retry.max_backoff_ms < retry.backoff_base_ms)
      error(&step, "key 'retry.max_backoff_ms' ("
                       + std::to_string(retry.max_backoff_ms)
                       + ") must not be less than 'retry.backoff_base_ms' ("
                       + std::to_string(retry.backoff_base_ms) + ")");
    if (retry.jitter_percent < 0 || retry.jitter_percent > 100)
      error(&step, "key 'retry.jitter_percent' must be between 0 and 100, got "
                       + std::to_string(retry.jitter_percent));
    if (step.timeout_seconds && *step.timeout_seconds <= 0)
      error(&step, "key 'timeout_seconds' must be positive, got "
                       + std::to_string(*step.timeout_seconds));
  }

  void check_dependencies(const StepDefinition& step) {
    const auto& deps = step.dependencies;
    for (std::size_t j = 0; j < deps.size(); ++j) {
      const auto& dep = deps[j];
      if (std::find(deps.begin(), deps.begin() + j, dep) != deps.begin() + j)
        report(DiagnosticSeverity::warning, &step,
               "dependency '" + dep + "' is listed twice");
      else if (!step.name.empty() && dep == step.name)
        error(&step, "step depends on itself");
      else if (!index_.contains(dep))
        error(&step, "depends on unknown step '" + dep + "'");
    }
  }

  // Depth-first search along parent -> child edges; every back edge closes
  // one cycle, reported once, starting at its earliest declared step.
  void check_cycles() {
    const auto n = tpl_.steps.size();
    children_.assign(n, {});
    for (std::size_t i = 0; i < n; ++i) {
      const auto& deps = tpl_.steps[i].dependencies;
      for (std::size_t j = 0; j < deps.size(); ++j) {
        auto it = index_.find(deps[j]);
        if (it == index_.end() || it->second == i
            || std::find(deps.begin(), deps.begin() + j, deps[j])
                   != deps.begin() + j)
          continue;
        children_[it->second].push_back(i);
      }
    }
    color_.assign(n, Color::white);
    for (std::size_t i = 0; i < n; ++i)
      if (color_[i] == Color::white)
        visit(i);
  }

  enum class Color { white, grey, black };

  void visit(std::size_t i) {
    color_[i] = Color::grey;
    path_.push_back(i);
    for (auto child : children_[i]) {
      if (color_[child] == Color::grey)
        report_cycle(child);
      else if (color_[child] == Color::white)
        visit(child);
    }
    path_.pop_back();
    color_[i] = Color::black;
  }

  void report_cycle(std::size_t start) {
    std::vector<std::size_t> cycle(std::find(path_.begin(), path_.end(), start),
                                   path_.end());
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()),
                cycle.end());
    std::string text;
    for (auto i : cycle)
      text += tpl_.steps[i].name + " -> ";
    text += tpl_.steps[cycle.front()].name;
    error(&tpl_.steps[cycle.front()], "dependency cycle: " + text);
  }

  const TaskTemplate& tpl_;
  std::unordered_map<std::string_view, std::size_t> index_;
  std::vector<std::vector<std::size_t>> children_;
  std::vector<Color> color_;
  std::vector<std::size_t> path_;
  std::vector<TemplateDiagnostic> diagnostics_;
};

} // namespace

std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty())
    return "it is empty";
  if (name.size() > kMaxTemplateNameLength)
    return "it has " + std::to_string(name.size())
           + " characters, the maximum is "
           + std::to_string(kMaxTemplateNameLength);
  if (!is_letter(name.front()) && name.front() != '_')
    return "it starts with '" + std::string(1, name.front())
           + "' (must start with a letter or '_')";
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!is_name_char(name[i]))
      return "it contains '" + std::string(1, name[i]) + "' at position "
             + std::to_string(i + 1)
             + " (allowed: letters, digits, '_', '-', '.')";
  return std::nullopt;
}

std::vector<TemplateDiagnostic> validate_template(const TaskTemplate& tpl) {
  return Validator{tpl}.run();
}

} // namespace tasker::config
