// What integration tests need to reach the test servers: their URLs and
// names that no other test (or earlier run) uses.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include <unistd.h>

namespace tasker::testing {

namespace detail {

inline std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    throw std::runtime_error(std::string{name} + " is not set");
  return value;
}

} // namespace detail

/// postgresql://user@127.0.0.1:port/tasker_test, from
/// TASKER_TEST_DATABASE_URL. Throws std::runtime_error when unset.
inline std::string database_url() {
  return detail::required_env("TASKER_TEST_DATABASE_URL");
}

/// amqp://guest:guest@127.0.0.1:port/%2f, from TASKER_TEST_RABBITMQ_URL.
/// Throws std::runtime_error when unset.
inline std::string rabbitmq_url() {
  return detail::required_env("TASKER_TEST_RABBITMQ_URL");
}

/// A name no other call returns, in this process or another one:
/// "<prefix>_<pid>_<counter>_<random hex>". Lowercase letters, digits and
/// underscores only (if the prefix is so), so it is a valid PostgreSQL
/// identifier (up to 63 bytes: keep prefixes short), queue or channel name.
inline std::string unique_name(std::string_view prefix) {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }();
  thread_local std::mt19937_64 engine{salt ^ std::random_device{}()};
  constexpr char digits[] = "0123456789abcdef";
  std::string suffix;
  auto bits = engine();
  for (int i = 0; i < 8; ++i, bits >>= 4)
    suffix += digits[bits & 0xF];
  std::string result{prefix};
  result += '_';
  result += std::to_string(::getpid());
  result += '_';
  result += std::to_string(counter.fetch_add(1) + 1);
  result += '_';
  result += suffix;
  return result;
}

/// Runs `rabbitmqctl -n <node> <arguments>` against the private broker of
/// scripts/test-servers.sh (node, directory and epmd port come from the
/// TASKER_TEST_SRV_RMQ_* variables of its env.sh); returns the exit status.
/// Throws std::runtime_error when those variables are unset.
inline int rabbitmqctl(const std::string& arguments) {
  auto dir = detail::required_env("TASKER_TEST_SRV_RMQ_DIR");
  const char* bin = std::getenv("RMQ_BIN");
  auto command = "env -i PATH=/usr/sbin:/usr/bin:/bin LC_ALL=C.UTF-8 HOME='"
                 + dir + "/home' ERL_EPMD_PORT="
                 + detail::required_env("TASKER_TEST_SRV_RMQ_EPMD_PORT")
                 + " RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface "
                   "{127,0,0,1} -start_epmd false' '"
                 + (bin != nullptr ? std::string{bin} : "/usr/lib/rabbitmq/bin")
                 + "/rabbitmqctl' -n '"
                 + detail::required_env("TASKER_TEST_SRV_RMQ_NODE") + "' "
                 + arguments + " >/dev/null";
  return std::system(command.c_str());
}

} // namespace tasker::testing
