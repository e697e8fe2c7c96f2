#pragma once

#include "config/node_config.hpp"
#include "core/result.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::config {

/// Environment variables, by name.
using Environment = std::map<std::string, std::string>;

/// A checked configuration and where each value came from.
struct LoadedConfig {
  NodeConfig config;
  /// The file read, if any.
  std::optional<std::filesystem::path> file;
  /// Key -> "default", "file" or the name of the environment variable.
  std::map<std::string, std::string> origins;
  /// Things worth telling that do not stop start-up (unknown TASKER_*
  /// environment variables).
  std::vector<std::string> warnings;
};

/// Reads a node's configuration: defaults, then the TOML file, then
/// environment variables. Fails with one message that lists every invalid
/// value (key, value, source, what is allowed) and every unknown key.
class ConfigLoader {
 public:
  /// Returns this process's environment.
  static Environment process_environment();

  /// Loads `file`, or the file named by `TASKER_CONFIG_PATH` when `file` is
  /// empty, or no file at all; then applies `env`.
  static core::Result<LoadedConfig>
  load(const std::optional<std::filesystem::path>& file,
       const Environment& env);

  /// Loads TOML text; `source` names it in messages.
  static core::Result<LoadedConfig> load_text(std::string_view toml,
                                              const std::string& source,
                                              const Environment& env);

  /// Returns the effective configuration as TOML, each value commented with
  /// its origin.
  static std::string render_toml(const LoadedConfig& loaded);
};

} // namespace tasker::config
