#pragma once

#include "config/task_template.hpp"
#include "config/template_parser.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::config {

/// Longest template or step name.
inline constexpr std::size_t kMaxTemplateNameLength = 64;

/// Checks a template or step name: 1 to 64 characters of letters, digits,
/// '_', '-' and '.', starting with a letter or '_'. Returns the broken rule,
/// or nothing if the name is valid.
std::optional<std::string> name_problem(std::string_view name);

/// Checks the rules a parsed template must meet before it is loaded and
/// returns every violation (not just the first) as an error diagnostic
/// naming the file, the step and the reason:
/// - `name`, `namespace_name`, `version` and at least one step are required;
/// - template and step names follow `name_problem`, the namespace follows
///   `validate_namespace`;
/// - step names are unique; every dependency names another existing step;
///   the dependencies form no cycle (named as "a -> b -> a", parents first);
/// - `handler.callable` is set; a `decision` step has a parent;
/// - `retry.max_attempts >= 1`, `0 <= retry.backoff_base_ms <=
///   retry.max_backoff_ms`, `timeout_seconds > 0`, lifecycle minutes >= 1.
/// A dependency listed twice is a warning.
std::vector<TemplateDiagnostic> validate_template(const TaskTemplate& tpl);

} // namespace tasker::config
