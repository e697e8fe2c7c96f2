#include "core/logger.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace tasker::core {

namespace {

LogLevel initial_level() {
  LogLevel level = LogLevel::info;
  if (const char* text = std::getenv("TASKER_LOG_LEVEL"))
    parse_log_level(text, level);
  return level;
}

std::atomic<LogLevel>& current_level() {
  static std::atomic<LogLevel> level{initial_level()};
  return level;
}

struct SinkHolder {
  std::mutex mutex;
  Logger::Sink sink;
};

SinkHolder& sink_holder() {
  static SinkHolder holder;
  return holder;
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ",
                static_cast<int>(millis.count()));
  return buf;
}

} // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
  }
  return "info";
}

bool parse_log_level(std::string_view text, LogLevel& out) {
  for (auto level : {LogLevel::trace, LogLevel::debug, LogLevel::info,
                     LogLevel::warn, LogLevel::error, LogLevel::off}) {
    if (text == to_string(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

void Logger::set_level(LogLevel level) {
  current_level().store(level);
}

LogLevel Logger::level() {
  return current_level().load(std::memory_order_relaxed);
}

void Logger::set_sink(Sink sink) {
  auto& holder = sink_holder();
  std::lock_guard<std::mutex> guard{holder.mutex};
  holder.sink = std::move(sink);
}

void Logger::write(LogLevel level, std::string_view component,
                   std::string_view message) {
  auto& holder = sink_holder();
  std::lock_guard<std::mutex> guard{holder.mutex};
  if (holder.sink) {
    holder.sink(level, component, message);
    return;
  }
  static constexpr const char* labels[]
      = {"TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};
  auto line = timestamp() + " " + labels[static_cast<int>(level)] + " ["
              + std::string{component} + "] " + std::string{message} + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace tasker::core
