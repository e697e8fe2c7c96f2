#pragma once

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tasker::bench {

/// The value at `fraction` (0.5 for the median) of `values`, by nearest
/// rank; 0 for none.
inline double percentile(std::vector<double> values, double fraction) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(fraction * values.size());
  return values[std::min(rank, values.size() - 1)];
}

/// The first non-empty of the environment variables `names`.
inline std::string env_or_empty(std::initializer_list<const char*> names) {
  for (const auto* name : names)
    if (const char* value = std::getenv(name); value && *value)
      return value;
  return {};
}

/// "Linux 6.1.0 x86_64, 2 cores".
inline std::string machine_description() {
  utsname host{};
  ::uname(&host);
  return std::string{host.sysname} + " " + host.release + " " + host.machine
         + ", " + std::to_string(std::thread::hardware_concurrency())
         + " cores";
}

/// "PostgreSQL 15.18, synchronous_commit on, fsync on", or why not known.
inline std::string postgresql_description(const std::string& url) {
  try {
    pqxx::connection connection{url};
    pqxx::nontransaction tx{connection};
    auto setting = [&](const char* name) {
      return tx.exec1(std::string{"SHOW "} + name)[0].as<std::string>();
    };
    return "PostgreSQL " + setting("server_version") + ", synchronous_commit "
           + setting("synchronous_commit") + ", fsync " + setting("fsync");
  } catch (const std::exception& e) {
    return std::string{"PostgreSQL (version unknown: "} + e.what() + ")";
  }
}

/// "RabbitMQ 3.10.8", from the broker's connection properties.
inline std::string rabbitmq_description(const std::string& url) {
  std::string copy = url;
  amqp_connection_info info;
  if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK)
    return "RabbitMQ (bad URL)";
  auto connection = amqp_new_connection();
  std::string version = "version unknown";
  auto* socket = amqp_tcp_socket_new(connection);
  if (socket && amqp_socket_open(socket, info.host, info.port) == AMQP_STATUS_OK
      && amqp_login(connection, info.vhost, 0, 131072, 0,
                    AMQP_SASL_METHOD_PLAIN, info.user, info.password)
                 .reply_type
             == AMQP_RESPONSE_NORMAL) {
    const auto* properties = amqp_get_server_properties(connection);
    for (int i = 0; i < properties->num_entries; ++i) {
      const auto& entry = properties->entries[i];
      std::string key{static_cast<const char*>(entry.key.bytes), entry.key.len};
      if (key == "version" && entry.value.kind == AMQP_FIELD_KIND_UTF8)
        version = std::string{
            static_cast<const char*>(entry.value.value.bytes.bytes),
            entry.value.value.bytes.len};
    }
    amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(connection);
  return "RabbitMQ " + version;
}

/// CPU time (user and system) process `pid` has used so far, from
/// /proc/PID/stat; nothing when it cannot be read (another machine's
/// process, or gone).
inline std::optional<double> process_cpu_seconds(long pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  if (!std::getline(in, stat))
    return std::nullopt;
  // The command name (field 2) may hold spaces: count from its ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream fields{stat.substr(close + 1)};
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i >= 14)
      ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// The items of a comma-separated list, empty ones dropped.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in{text};
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

/// In memory, plus PGMQ with a database URL and RabbitMQ with both URLs.
inline std::vector<std::string>
default_providers(const std::string& database_url,
                  const std::string& rabbitmq_url) {
  std::vector<std::string> providers{"in-memory"};
  if (!database_url.empty())
    providers.push_back("pgmq");
  if (!database_url.empty() && !rabbitmq_url.empty())
    providers.push_back("rabbitmq");
  return providers;
}

/// What a provider's benchmark runs on: servers with their versions, and
/// how the nodes are laid out.
inline std::string servers_description(const std::string& provider,
                                       const std::string& database_url,
                                       const std::string& rabbitmq_url) {
  if (provider == "pgmq")
    return postgresql_description(database_url)
           + "; server and worker processes";
  // The nodes inherit the environment, and with it the queue kind.
  if (provider == "rabbitmq")
    return rabbitmq_description(rabbitmq_url) + " ("
           + (env_or_empty({"TASKER_RABBITMQ_QUEUE_TYPE"}) == "classic"
                  ? "classic"
                  : "quorum")
           + " queues), state in " + postgresql_description(database_url)
           + "; server and worker processes";
  return "in memory, all in one process";
}

} // namespace tasker::bench
