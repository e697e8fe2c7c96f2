#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tasker::apps {

/// The command line of `tasker-ctl`: global flags plus positional words.
struct CliArgs {
  /// `--config FILE`.
  std::optional<std::string> config_file;
  /// `--url URL`: the orchestration node (default: http:// plus
  /// `orchestration.bind_address`).
  std::optional<std::string> url;
  /// `--json`: machine-readable output.
  bool json = false;
  /// `--help` or `-h` anywhere.
  bool help = false;
  /// Everything else, in order: group, command, arguments.
  std::vector<std::string> words;
  /// A flag that was not understood, if any.
  std::optional<std::string> bad_flag;

  /// Parses argv (without argv[0]).
  static CliArgs parse(const std::vector<std::string>& argv);
};

} // namespace tasker::apps
