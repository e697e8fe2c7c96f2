#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tasker::apps {

/// The command line of `tasker-ctl`: global flags plus positional words.
struct CliArgs {
  /// `--config FILE`.
  std::optional<std::string> config_file;
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
