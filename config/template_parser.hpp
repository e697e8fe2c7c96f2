#pragma once

#include "config/task_template.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::config {

/// Whether a diagnostic stops a template from loading.
enum class DiagnosticSeverity {
  /// The template loads; something looks wrong (e.g. an unknown key).
  warning,
  /// The template is rejected.
  error,
};

/// Returns "warning" or "error".
std::string_view to_string(DiagnosticSeverity severity);

/// One problem found while parsing or validating a template, located as
/// precisely as the source allows.
struct TemplateDiagnostic {
  DiagnosticSeverity severity = DiagnosticSeverity::error;
  /// The file (or source name) of the template.
  std::string file;
  /// 1-based line; 0 when unknown.
  int line = 0;
  /// The step concerned, if any.
  std::optional<std::string> step;
  /// The reason, naming the key concerned.
  std::string message;

  /// Returns `file:line: step 'x': message`, leaving out unknown parts.
  std::string to_string() const;
};

/// Returns true if any diagnostic is an error.
bool has_errors(const std::vector<TemplateDiagnostic>& diagnostics);

/// The outcome of parsing one template document.
struct TemplateParseResult {
  /// The template; incomplete when `diagnostics` holds errors.
  TaskTemplate task_template;
  /// Syntax, type and unknown-key findings, in document order.
  std::vector<TemplateDiagnostic> diagnostics;

  /// Returns true if parsing found no errors (warnings are fine).
  bool ok() const {
    return !has_errors(diagnostics);
  }
};

/// Parses one YAML document in the reference system's task template format.
/// Never throws and never stops at the first problem:
/// - malformed YAML is an error naming `source_name` and the line;
/// - a value of the wrong type is an error naming the line, step and key,
///   and leaves the field at its default;
/// - keys the reference format defines but Tasker does not execute are kept
///   in `extra` silently; keys nobody defines are kept in `extra` with a
///   warning (suggesting a known key within edit distance 2).
/// Semantic rules (names, DAG, ranges) are `validate_template`'s job.
TemplateParseResult parse_template(std::string_view yaml,
                                   std::string source_name);

/// Reads and parses `path`; an unreadable file is an error diagnostic.
TemplateParseResult parse_template_file(const std::filesystem::path& path);

} // namespace tasker::config
