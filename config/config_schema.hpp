#pragma once

#include "config/node_config.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tasker::config {

/// A value of a type TOML has but no setting accepts (tables, dates, ...).
struct OtherValue {
  std::string type_name;
};

/// A configuration value as read from a file, before it is checked.
using ConfigValue = std::variant<bool, int64_t, double, std::string,
                                 std::vector<std::string>, OtherValue>;

/// One configuration key: its place in the file, its environment variable,
/// its documentation, and how it is checked and stored.
struct ConfigSetting {
  /// Dotted TOML path, e.g. "pgmq.visibility_timeout_seconds".
  std::string key;
  /// The environment variable that overrides it.
  std::string env;
  /// One line for users.
  std::string doc;
  /// What is allowed, e.g. "integer from 1 to 3600".
  std::string allowed;
  /// Returns the current value as a TOML literal.
  std::function<std::string(const NodeConfig&)> show;
  /// Stores a file value; returns an empty string or what was wrong.
  std::function<std::string(NodeConfig&, const ConfigValue&)> set;
  /// Stores an environment value; returns an empty string or what was wrong.
  std::function<std::string(NodeConfig&, std::string_view)> set_text;
};

/// The whole configuration model as data: one table drives file parsing,
/// environment overrides, validation, `config show` and the reference docs.
class ConfigSchema {
 public:
  /// Returns the schema of `NodeConfig`.
  static const ConfigSchema& instance();

  const std::vector<ConfigSetting>& settings() const {
    return settings_;
  }

  /// Returns the setting at a dotted key, or null.
  const ConfigSetting* find(std::string_view key) const;

  /// Returns true for a table that holds settings, e.g. "orchestration" or
  /// "orchestration.event_system".
  bool is_section(std::string_view key) const;

  /// Returns the known key or section closest to `key` within two edits, or
  /// empty.
  std::string suggest(std::string_view key) const;

  /// Returns docs/configuration.md: every key with its environment
  /// variable, default, allowed values and description.
  std::string render_markdown() const;

 private:
  ConfigSchema();

  std::vector<ConfigSetting> settings_;
};

} // namespace tasker::config
