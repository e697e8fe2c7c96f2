#pragma once

#include "config/task_template.hpp"
#include "config/template_parser.hpp"
#include "core/result.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::config {

/// Compares two versions by semantic versioning: numeric `major.minor.patch`
/// (missing parts count as 0), a pre-release (`1.0.0-rc.1`) sorts before its
/// release, build metadata (`+abc`) is ignored. Non-numeric parts compare as
/// text. Returns a negative number, 0 or a positive number.
int compare_versions(std::string_view a, std::string_view b);

/// The validated set of task templates a node serves, loaded once at start.
/// Every template is unique by `(namespace_name, name, version)`.
class TemplateCatalog {
 public:
  /// Loads `path`: a single template file, or a directory searched
  /// recursively for `*.yaml` and `*.yml` files in sorted path order. Every
  /// file is parsed and validated; templates defined twice are rejected,
  /// naming both files. Fails with `io_error` if the path does not exist or
  /// cannot be listed, `not_found` if it holds no template file, and
  /// `invalid_template` if any file has errors; that message lists every
  /// error as `file:line: step 'x': reason`, one per line. When
  /// `diagnostics` is given it receives all findings (warnings and errors)
  /// of all files, also when loading fails.
  static core::Result<TemplateCatalog>
  load(const std::filesystem::path& path,
       std::vector<TemplateDiagnostic>* diagnostics = nullptr);

  /// Returns the templates in file order.
  const std::vector<TaskTemplate>& templates() const noexcept {
    return templates_;
  }

  /// Returns the warnings of all loaded files.
  const std::vector<TemplateDiagnostic>& warnings() const noexcept {
    return warnings_;
  }

  /// Returns the template `namespace_name/name` at `version`, or its latest
  /// version (by `compare_versions`) when `version` is not given; null if
  /// there is none.
  const TaskTemplate*
  find(std::string_view namespace_name, std::string_view name,
       std::optional<std::string_view> version = std::nullopt) const;

  /// Returns the namespaces of all templates, sorted and unique.
  std::vector<std::string> namespaces() const;

  /// Returns `worker_{ns}_queue` for every namespace, in namespace order.
  std::vector<std::string> queue_names() const;

 private:
  std::vector<TaskTemplate> templates_;
  std::vector<TemplateDiagnostic> warnings_;
};

} // namespace tasker::config
