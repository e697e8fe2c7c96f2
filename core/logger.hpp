#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace tasker::core {

enum class LogLevel { trace, debug, info, warn, error, off };

/// Returns the level's lower-case name.
std::string_view to_string(LogLevel level);

/// Parses "trace" ... "off"; returns false for anything else.
bool parse_log_level(std::string_view text, LogLevel& out);

/// Process-wide, thread-safe line logger. Each line is
/// `2026-11-22T14:00:00.123Z WARN  [component] message`, written to stderr
/// unless a sink is installed (tests capture lines that way).
class Logger {
 public:
  using Sink = std::function<void(LogLevel, std::string_view component,
                                  std::string_view message)>;

  /// Sets the minimum level written; the default is info, or the value of
  /// the environment variable `TASKER_LOG_LEVEL`.
  static void set_level(LogLevel level);

  static LogLevel level();

  static bool enabled(LogLevel level) {
    return level >= Logger::level();
  }

  /// Replaces the output; an empty sink restores stderr.
  static void set_sink(Sink sink);

  static void write(LogLevel level, std::string_view component,
                    std::string_view message);
};

inline void log_debug(std::string_view component, std::string_view message) {
  if (Logger::enabled(LogLevel::debug))
    Logger::write(LogLevel::debug, component, message);
}

inline void log_info(std::string_view component, std::string_view message) {
  if (Logger::enabled(LogLevel::info))
    Logger::write(LogLevel::info, component, message);
}

inline void log_warn(std::string_view component, std::string_view message) {
  if (Logger::enabled(LogLevel::warn))
    Logger::write(LogLevel::warn, component, message);
}

inline void log_error(std::string_view component, std::string_view message) {
  if (Logger::enabled(LogLevel::error))
    Logger::write(LogLevel::error, component, message);
}

} // namespace tasker::core
