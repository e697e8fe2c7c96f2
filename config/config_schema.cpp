#include "config/config_schema.hpp"

#include "core/command_line.hpp"

#include "config/queue_names.hpp"
#include "core/edit_distance.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

namespace tasker::config {

namespace {

// A generic lambda reaching one field, usable on const and mutable configs.
#define TASKER_FIELD(path)                                                     \
  [](auto& c) -> auto& {                                                       \
    return c.path;                                                             \
  }

std::string env_name_for(std::string_view key) {
  std::string env = "TASKER_";
  for (char c : key)
    env += c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string type_name(const ConfigValue& value) {
  struct Visitor {
    std::string operator()(bool) const {
      return "a boolean";
    }
    std::string operator()(int64_t) const {
      return "an integer";
    }
    std::string operator()(double) const {
      return "a float";
    }
    std::string operator()(const std::string&) const {
      return "a string";
    }
    std::string operator()(const std::vector<std::string>&) const {
      return "an array";
    }
    std::string operator()(const OtherValue& x) const {
      return x.type_name;
    }
  };
  return std::visit(Visitor{}, value);
}

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return {};
  auto last = text.find_last_not_of(" \t");
  return std::string{text.substr(first, last - first + 1)};
}

// -- builders -----------------------------------------------------------------

using Check = std::function<std::string(std::string_view)>;

// Returns a setter that accepts values of type T and hands them to `store`;
// any other type is reported against `allowed`.
template <class T, class Store>
auto typed_setter(std::string allowed, Store store) {
  return [allowed, store](NodeConfig& c, const ConfigValue& v) -> std::string {
    if (auto x = std::get_if<T>(&v))
      return store(c, *x);
    return "expected " + allowed + ", got " + type_name(v);
  };
}

// Assembles a setting; environment text is turned into a ConfigValue by
// `from_text` and then checked like a file value.
ConfigSetting
make_setting(std::string key, std::string doc, std::string env,
             std::string allowed,
             std::function<std::string(const NodeConfig&)> show,
             std::function<std::string(NodeConfig&, const ConfigValue&)> set,
             std::function<ConfigValue(std::string_view)> from_text) {
  ConfigSetting s;
  s.env = env.empty() ? env_name_for(key) : std::move(env);
  s.key = std::move(key);
  s.doc = std::move(doc);
  s.allowed = std::move(allowed);
  s.show = std::move(show);
  s.set = set;
  s.set_text = [set, from_text](NodeConfig& c, std::string_view text) {
    return set(c, from_text(text));
  };
  return s;
}

ConfigValue text_as_string(std::string_view text) {
  return std::string{text};
}

ConfigValue text_as_integer(std::string_view text) {
  auto t = trim(text);
  int64_t x = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), x);
  if (t.empty() || ec != std::errc{} || end != t.data() + t.size())
    return OtherValue{"text that is not an integer"};
  return x;
}

template <class Field>
ConfigSetting integer_setting(std::string key, std::string doc, Field field,
                              int64_t lo, int64_t hi, std::string env = {}) {
  auto allowed
      = "integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  auto store
      = [field, lo, hi, allowed](NodeConfig& c, int64_t x) -> std::string {
    if (x < lo || x > hi)
      return "expected " + allowed;
    field(c) = x;
    return {};
  };
  return make_setting(
      std::move(key), std::move(doc), std::move(env), allowed,
      [field](const NodeConfig& c) {
        return std::to_string(field(c));
      },
      typed_setter<int64_t>(allowed, store), text_as_integer);
}

template <class Field>
ConfigSetting string_setting(std::string key, std::string doc, Field field,
                             std::string allowed, Check check,
                             std::string env = {}) {
  auto store
      = [field, check](NodeConfig& c, const std::string& x) -> std::string {
    if (auto problem = check(x); !problem.empty())
      return problem;
    field(c) = x;
    return {};
  };
  return make_setting(
      std::move(key), std::move(doc), std::move(env), allowed,
      [field](const NodeConfig& c) {
        return quote(field(c));
      },
      typed_setter<std::string>(allowed, store), text_as_string);
}

// A string setting stored as an enum: `parse` maps text to the enum.
template <class Field, class Parse, class Show>
ConfigSetting enum_setting(std::string key, std::string doc, Field field,
                           std::vector<std::string> names, Parse parse,
                           Show show_enum, std::string env = {}) {
  std::string allowed = "one of ";
  for (std::size_t i = 0; i < names.size(); ++i)
    allowed += (i ? ", " : "") + quote(names[i]);
  auto store = [field, parse, allowed](NodeConfig& c,
                                       const std::string& x) -> std::string {
    auto parsed = parse(x);
    if (!parsed)
      return "expected " + allowed;
    field(c) = *parsed;
    return {};
  };
  return make_setting(
      std::move(key), std::move(doc), std::move(env), allowed,
      [field, show_enum](const NodeConfig& c) {
        return quote(show_enum(field(c)));
      },
      typed_setter<std::string>(allowed, store),
      [](std::string_view text) -> ConfigValue {
        return trim(text);
      });
}

template <class Field>
ConfigSetting string_list_setting(std::string key, std::string doc, Field field,
                                  std::string allowed, Check check_item,
                                  std::string env = {}) {
  auto store
      = [field, check_item](NodeConfig& c,
                            const std::vector<std::string>& xs) -> std::string {
    for (auto& x : xs)
      if (auto problem = check_item(x); !problem.empty())
        return problem;
    field(c) = xs;
    return {};
  };
  return make_setting(
      std::move(key), std::move(doc), std::move(env), allowed,
      [field](const NodeConfig& c) {
        std::string out = "[";
        for (std::size_t i = 0; i < field(c).size(); ++i)
          out += (i ? ", " : "") + quote(field(c)[i]);
        return out + "]";
      },
      typed_setter<std::vector<std::string>>(allowed, store),
      [](std::string_view text) -> ConfigValue {
        // Comma-separated in the environment; empty items are dropped.
        std::vector<std::string> xs;
        std::stringstream in{std::string{text}};
        for (std::string item; std::getline(in, item, ',');)
          if (auto t = trim(item); !t.empty())
            xs.push_back(t);
        return xs;
      });
}

// -- value checks -------------------------------------------------------------

Check url_check(std::vector<std::string> schemes, bool allow_empty) {
  return [schemes, allow_empty](std::string_view x) -> std::string {
    if (x.empty() && allow_empty)
      return {};
    for (auto& scheme : schemes)
      if (x.starts_with(scheme) && x.size() > scheme.size())
        return {};
    std::string expected = "expected a URL starting with ";
    for (std::size_t i = 0; i < schemes.size(); ++i)
      expected += (i ? " or " : "") + schemes[i];
    return expected + (allow_empty ? ", or empty" : "");
  };
}

std::string bind_address_problem(std::string_view x) {
  static const std::string expected
      = "expected HOST:PORT with a port from 0 (any free port, logged) to "
        "65535, e.g. \"0.0.0.0:8080\"";
  auto colon = x.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return expected;
  auto port_text = x.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size()
      || port < 0 || port > 65535)
    return expected;
  return {};
}

Check one_of(std::vector<std::string> names) {
  return [names](std::string_view x) -> std::string {
    if (std::find(names.begin(), names.end(), x) != names.end())
      return {};
    std::string expected = "expected one of ";
    for (std::size_t i = 0; i < names.size(); ++i)
      expected += (i ? ", " : "") + quote(names[i]);
    return expected;
  };
}

std::string non_empty(std::string_view x) {
  return x.empty() ? "expected a non-empty path" : std::string{};
}

std::string queue_prefetch_problem(std::string_view x) {
  static const std::string expected
      = "expected \"QUEUE=N\" with a valid queue name and N from 1 to 65535";
  auto parts = split_assignment(x);
  if (!parts || !validate_queue_name(parts->first))
    return expected;
  int n = 0;
  auto& text = parts->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 1
      || n > 65535)
    return expected;
  return {};
}

bool is_exchange_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
         || c == '.';
}

std::string exchange_problem(std::string_view x) {
  if (x.size() > 127 || !std::all_of(x.begin(), x.end(), is_exchange_char))
    return "expected empty, or at most 127 characters of [a-z0-9_.]";
  return {};
}

std::string topic_binding_problem(std::string_view x) {
  auto parts = split_assignment(x);
  if (!parts)
    return "expected \"PATTERN=QUEUE\", e.g. "
           "\"fulfillment.*=worker_fulfillment_queue\"";
  if (auto valid = validate_queue_name(parts->second); !valid)
    return valid.error().message();
  return {};
}

std::string namespace_problem(std::string_view x) {
  auto ok = validate_namespace(x);
  return ok ? std::string{} : ok.error().message();
}

std::string namespace_concurrency_problem(std::string_view x) {
  auto parts = split_assignment(x);
  if (!parts || !validate_namespace(parts->first))
    return "expected \"NAMESPACE=N\" with a valid namespace and N from 1 to "
           "10000";
  int n = 0;
  auto& text = parts->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 1
      || n > 10000)
    return "expected \"NAMESPACE=N\" with N from 1 to 10000";
  return {};
}

std::string exec_handler_problem(std::string_view x) {
  // The command may hold '=' itself: the callable ends at the first one.
  auto eq = x.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return "expected \"CALLABLE=COMMAND\", e.g. "
           "\"shop.charge_card=python3 handlers/charge_card.py\"";
  auto words = core::split_command_line(x.substr(eq + 1));
  return words ? std::string{} : words.error().message();
}

// Adds the event-system keys under `prefix` ("orchestration.event_system");
// `in_flight_limit` false leaves out `max_in_flight` (the worker sets it
// per namespace from its concurrency).
template <class Section>
void add_event_system(std::vector<ConfigSetting>& out,
                      const std::string& prefix, Section section,
                      const std::string& node, bool in_flight_limit = true) {
  auto field_of = [section](auto member) {
    return [ section, member ](auto& c) -> auto& {
      return section(c).*member;
    };
  };
  out.push_back(enum_setting(
      prefix + ".deployment_mode",
      "How the " + node
          + " event system takes in messages: listener, poller, or both. A "
            "provider with reliable push (RabbitMQ) always runs "
            "EventDrivenOnly.",
      field_of(&EventSystemConfig::deployment_mode),
      {"EventDrivenOnly", "PollingOnly", "Hybrid"}, parse_deployment_mode,
      [](DeploymentMode m) {
        return std::string{to_string(m)};
      }));
  out.push_back(integer_setting(
      prefix + ".fallback_polling_interval_ms",
      "Milliseconds between polls of every " + node
          + " queue (PollingOnly and Hybrid).",
      field_of(&EventSystemConfig::fallback_polling_interval_ms), 10, 3600000));
  out.push_back(integer_setting(
      prefix + ".batch_size", "Messages read per queue per poll.",
      field_of(&EventSystemConfig::batch_size), 1, 10000));
  out.push_back(integer_setting(
      prefix + ".visibility_timeout_seconds",
      "Seconds a message read by the " + node
          + " stays hidden from other readers before it is redelivered.",
      field_of(&EventSystemConfig::visibility_timeout_seconds), 1, 43200));
  if (!in_flight_limit)
    return;
  out.push_back(integer_setting(
      prefix + ".max_in_flight",
      "Commands the " + node
          + " processes at once; at the limit it stops reading until work "
            "completes (backpressure).",
      field_of(&EventSystemConfig::max_in_flight), 1, 1000000));
}

std::string section_of(std::string_view key) {
  auto dot = key.rfind('.');
  return dot == std::string_view::npos ? std::string{}
                                       : std::string{key.substr(0, dot)};
}

} // namespace

ConfigSchema::ConfigSchema() {
  auto& s = settings_;
  // -- top level ----------------------------------------------------------
  s.push_back(string_setting(
      "environment",
      "Deployment environment of this node, reported in logs and health.",
      TASKER_FIELD(environment),
      "one of \"development\", \"test\", \"production\"",
      one_of({"development", "test", "production"}), "TASKER_ENV"));
  s.push_back(string_setting(
      "log_level", "Minimum level of log lines written to stderr.",
      TASKER_FIELD(log_level),
      "one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"off\"",
      one_of({"trace", "debug", "info", "warn", "error", "off"})));
  s.push_back(string_setting(
      "template_path",
      "Directory (searched recursively) or file of task template YAML.",
      TASKER_FIELD(template_path), "a non-empty path", non_empty,
      "TASKER_TEMPLATE_PATH"));
  s.push_back(integer_setting(
      "scheduler_threads",
      "Threads running the node's actors that never block (those that wait "
      "on a server have threads of their own); 0: one per core. A message "
      "from another thread wakes a sleeping one, so fewer threads answer "
      "sooner: 1 gives the all-in-one in-memory node its lowest latency.",
      TASKER_FIELD(scheduler_threads), 0, 256));
  // -- messaging ------------------------------------------------------------
  s.push_back(enum_setting(
      "messaging.backend",
      "Messaging provider of this node. Switching it is a configuration "
      "change, never a code change.",
      TASKER_FIELD(messaging_backend), {"pgmq", "rabbitmq", "in_memory"},
      parse_messaging_backend, [](MessagingBackend b) {
        return std::string{to_string(b)};
      }));
  // -- database -------------------------------------------------------------
  s.push_back(string_setting(
      "database.url", "PostgreSQL connection URL of the workflow state store.",
      TASKER_FIELD(database.url),
      "a URL starting with postgresql:// or postgres://",
      url_check({"postgresql://", "postgres://"}, false), "DATABASE_URL"));
  s.push_back(integer_setting("database.pool_size",
                              "Connections the node opens to PostgreSQL.",
                              TASKER_FIELD(database.pool_size), 1, 1000));
  s.push_back(integer_setting(
      "database.connect_timeout_seconds",
      "Seconds one connection attempt may take before it is retried.",
      TASKER_FIELD(database.connect_timeout_seconds), 1, 600));
  s.push_back(integer_setting(
      "database.connect_retries",
      "Attempts (with backoff) to reach PostgreSQL at start-up before the node "
      "stops with an error.",
      TASKER_FIELD(database.connect_retries), 0, 1000));
  // -- pgmq ---------------------------------------------------------------
  s.push_back(string_setting(
      "pgmq.url",
      "PostgreSQL URL of the queues; empty keeps them in `database.url` (one "
      "transaction for state and messages).",
      TASKER_FIELD(pgmq.url),
      "a URL starting with postgresql:// or "
      "postgres://, or empty",
      url_check({"postgresql://", "postgres://"}, true), "PGMQ_DATABASE_URL"));
  s.push_back(integer_setting(
      "pgmq.visibility_timeout_seconds",
      "Default seconds a read message stays invisible to other readers.",
      TASKER_FIELD(pgmq.visibility_timeout_seconds), 1, 43200));
  s.push_back(integer_setting("pgmq.batch_size",
                              "Default messages per read or batched send.",
                              TASKER_FIELD(pgmq.batch_size), 1, 10000));
  s.push_back(
      integer_setting("pgmq.poll_interval_ms",
                      "Milliseconds between reads while waiting for messages.",
                      TASKER_FIELD(pgmq.poll_interval_ms), 10, 3600000));
  s.push_back(integer_setting(
      "pgmq.max_message_size_bytes",
      "Largest payload accepted; larger sends fail naming the queue.",
      TASKER_FIELD(pgmq.max_message_size_bytes), 1024, 268435456));
  s.push_back(integer_setting(
      "pgmq.max_deliveries",
      "Deliveries of one message before it moves to `{queue}_dlq`.",
      TASKER_FIELD(pgmq.max_deliveries), 1, 1000));
  // -- rabbitmq -------------------------------------------------------------
  s.push_back(string_setting(
      "rabbitmq.url", "AMQP URL of the broker (amqps:// for TLS).",
      TASKER_FIELD(rabbitmq.url), "a URL starting with amqp:// or amqps://",
      url_check({"amqp://", "amqps://"}, false), "RABBITMQ_URL"));
  s.push_back(integer_setting(
      "rabbitmq.prefetch",
      "Unacknowledged deliveries per consumer (basic.qos): the concurrency "
      "bound.",
      TASKER_FIELD(rabbitmq.prefetch), 1, 65535));
  s.push_back(integer_setting(
      "rabbitmq.heartbeat_seconds",
      "AMQP heartbeat; a silent connection is declared dead after two.",
      TASKER_FIELD(rabbitmq.heartbeat_seconds), 0, 3600));
  s.push_back(integer_setting(
      "rabbitmq.connection_timeout_seconds",
      "Seconds one connection attempt may take before it is retried.",
      TASKER_FIELD(rabbitmq.connection_timeout_seconds), 1, 600));
  s.push_back(integer_setting(
      "rabbitmq.connect_retries",
      "Attempts (with backoff) to reach the broker at start-up before the "
      "node stops with an error.",
      TASKER_FIELD(rabbitmq.connect_retries), 0, 1000));
  s.push_back(integer_setting(
      "rabbitmq.max_deliveries",
      "Deliveries of one message before it is dead-lettered to `{queue}_dlq`.",
      TASKER_FIELD(rabbitmq.max_deliveries), 1, 1000));
  s.push_back(string_setting(
      "rabbitmq.declaration_conflict_policy",
      "What to do when a queue exists with other properties: stop (`fail`) or "
      "log and use it as it is (`warn`). Never redeclared silently.",
      TASKER_FIELD(rabbitmq.declaration_conflict_policy),
      "one of \"fail\", \"warn\"", one_of({"fail", "warn"})));
  s.push_back(string_setting(
      "rabbitmq.queue_type",
      "Kind of queue declared: `quorum` (replicated; the broker counts "
      "deliveries and hands a message out once it is on disk) or `classic` "
      "(one node; hands it out before the disk write, ~20% lower latency "
      "per step on one broker; Tasker counts redeliveries itself). An "
      "existing queue of the other kind is a declaration conflict.",
      TASKER_FIELD(rabbitmq.queue_type), "one of \"quorum\", \"classic\"",
      one_of({"quorum", "classic"})));
  s.push_back(integer_setting(
      "rabbitmq.push_visibility_timeout_seconds",
      "Seconds a pushed, unacked message stays with its consumer before it "
      "is delivered again (extended while its step runs).",
      TASKER_FIELD(rabbitmq.push_visibility_timeout_seconds), 1, 43200));
  s.push_back(string_list_setting(
      "rabbitmq.queue_prefetch",
      "Per-queue prefetch overriding `prefetch`, as \"QUEUE=N\". A worker "
      "sets its namespaces' queues to twice their concurrency (steps whose "
      "results are being sent stay unacked) unless listed here.",
      TASKER_FIELD(rabbitmq.queue_prefetch),
      "array of \"QUEUE=N\" with N from 1 to 65535", queue_prefetch_problem));
  s.push_back(string_setting(
      "rabbitmq.topic_exchange",
      "Durable topic exchange declared at start-up for publishers that route "
      "by key; empty declares none.",
      TASKER_FIELD(rabbitmq.topic_exchange),
      "empty, or an exchange name of [a-z0-9_.]", exchange_problem));
  s.push_back(string_list_setting(
      "rabbitmq.topic_bindings",
      "Bindings of `topic_exchange`, as \"PATTERN=QUEUE\" (e.g. "
      "\"fulfillment.*=worker_fulfillment_queue\"), made when the queue is "
      "created.",
      TASKER_FIELD(rabbitmq.topic_bindings), "array of \"PATTERN=QUEUE\"",
      topic_binding_problem));
  // -- in_memory ------------------------------------------------------------
  s.push_back(integer_setting(
      "in_memory.max_deliveries",
      "Deliveries of one message before it moves to `{queue}_dlq`.",
      TASKER_FIELD(in_memory.max_deliveries), 1, 1000));
  s.push_back(integer_setting(
      "in_memory.max_message_size_bytes",
      "Largest payload accepted; larger sends fail naming the queue.",
      TASKER_FIELD(in_memory.max_message_size_bytes), 1024, 268435456));
  s.push_back(string_list_setting(
      "in_memory.queue_prefetch",
      "Unacked pushed messages per subscriber of particular queues, as "
      "\"QUEUE=N\" (others: 100). A worker sets its namespaces' queues to "
      "their concurrency unless listed here.",
      TASKER_FIELD(in_memory.queue_prefetch),
      "array of \"QUEUE=N\" with N from 1 to 65535", queue_prefetch_problem));
  // -- orchestration --------------------------------------------------------
  add_event_system(s, "orchestration.event_system",
                   TASKER_FIELD(orchestration.event_system), "orchestration");
  s.push_back(string_setting(
      "orchestration.bind_address",
      "Address of the REST API, health and metrics of the orchestration node.",
      TASKER_FIELD(orchestration.bind_address), "HOST:PORT",
      bind_address_problem, "TASKER_WEB_BIND_ADDRESS"));
  s.push_back(integer_setting(
      "orchestration.shutdown_timeout_ms",
      "Milliseconds to drain in-flight work on SIGTERM before stopping.",
      TASKER_FIELD(orchestration.shutdown_timeout_ms), 0, 3600000));
  s.push_back(string_setting(
      "orchestration.api_key",
      "Key the REST API requires (header `X-API-Key: KEY` or "
      "`Authorization: Bearer KEY`) on every path but /health, "
      "/health/ready and /metrics; empty requires none.",
      TASKER_FIELD(orchestration.api_key), "any text",
      [](std::string_view) {
        return std::string{};
      },
      "TASKER_API_KEY"));
  s.push_back(integer_setting(
      "orchestration.max_request_bytes",
      "Largest request body the REST API accepts; larger ones get 413.",
      TASKER_FIELD(orchestration.max_request_bytes), 1024, 268435456));
  s.push_back(string_setting(
      "orchestration.task_store",
      "Where workflow state lives: `postgresql` (`database.url`), "
      "`in_memory` (lost at exit), or `auto`: in memory with the in-memory "
      "provider, PostgreSQL otherwise.",
      TASKER_FIELD(orchestration.task_store),
      "one of \"auto\", \"postgresql\", \"in_memory\"",
      one_of({"auto", "postgresql", "in_memory"})));
  s.push_back(integer_setting(
      "orchestration.in_memory_finished_tasks_kept",
      "With the in-memory task store: finished tasks kept for reads; beyond "
      "it the longest finished are forgotten (with their history and "
      "idempotency key; not while a dead letter of theirs is pending), so "
      "memory stays bounded. 0 keeps every one.",
      TASKER_FIELD(orchestration.in_memory_finished_tasks_kept), 0, 100000000));
  s.push_back(integer_setting(
      "orchestration.shards",
      "Task shards deciding in parallel (one task's commands are handled by "
      "one shard, one at a time).",
      TASKER_FIELD(orchestration.shards), 1, 256));
  s.push_back(integer_setting(
      "orchestration.sweep_interval_ms",
      "Milliseconds between sweeps for due retries, overdue steps and stale "
      "tasks.",
      TASKER_FIELD(orchestration.sweep_interval_ms), 10, 3600000));
  s.push_back(integer_setting(
      "orchestration.step_timeout_grace_seconds",
      "Seconds past a step's `timeout_seconds` before orchestration fails it "
      "as a retryable `timeout` (workers enforce the timeout themselves "
      "first).",
      TASKER_FIELD(orchestration.step_timeout_grace_seconds), 0, 86400));
  s.push_back(integer_setting(
      "orchestration.max_waiting_for_dependencies_minutes",
      "A task waiting this long for its dependencies expires to `error` with "
      "a dead-letter record (a template's lifecycle may override it).",
      TASKER_FIELD(orchestration.max_waiting_for_dependencies_minutes), 1,
      525600));
  s.push_back(integer_setting(
      "orchestration.max_waiting_for_retry_minutes",
      "A task waiting this long for a retry expires to `error`.",
      TASKER_FIELD(orchestration.max_waiting_for_retry_minutes), 1, 525600));
  s.push_back(integer_setting(
      "orchestration.max_steps_in_process_minutes",
      "A task whose steps have been running this long expires to `error`.",
      TASKER_FIELD(orchestration.max_steps_in_process_minutes), 1, 525600));
  s.push_back(integer_setting(
      "orchestration.max_task_lifetime_minutes",
      "A task alive this long in any state expires to `error`.",
      TASKER_FIELD(orchestration.max_task_lifetime_minutes), 1, 5256000));
  // -- worker ---------------------------------------------------------------
  add_event_system(s, "worker.event_system", TASKER_FIELD(worker.event_system),
                   "worker", false);
  s.push_back(string_setting(
      "worker.bind_address", "Address of the worker's health and metrics.",
      TASKER_FIELD(worker.bind_address), "HOST:PORT", bind_address_problem));
  s.push_back(string_list_setting(
      "worker.namespaces",
      "Namespaces this worker serves; empty serves every namespace found in "
      "the templates. In the environment: comma-separated.",
      TASKER_FIELD(worker.namespaces),
      "array of namespaces ([a-z0-9_], at most "
      "30 characters)",
      namespace_problem));
  s.push_back(integer_setting(
      "worker.shutdown_timeout_ms",
      "Milliseconds to let running steps finish on SIGTERM before stopping.",
      TASKER_FIELD(worker.shutdown_timeout_ms), 0, 3600000));
  s.push_back(string_setting(
      "worker.worker_id",
      "Names this worker in step results and logs; empty: "
      "`worker-{host}-{pid}`.",
      TASKER_FIELD(worker.worker_id), "at most 200 characters",
      [](std::string_view x) {
        return x.size() > 200 ? std::string{"expected at most 200 characters"}
                              : std::string{};
      }));
  s.push_back(integer_setting(
      "worker.max_concurrent_steps",
      "Steps of one namespace run at once (the prefetch of seed 004): the "
      "namespace's in-flight limit. At the limit the worker stops reading "
      "that queue. A step holds its slot from its claim until its handler "
      "returns (until its result is sent too in memory), so for quick "
      "handlers under load the slots bound the namespace's throughput "
      "(docs/operations.md, \"Running workers\"). On RabbitMQ the worker's "
      "queues get twice this as their prefetch unless "
      "`rabbitmq.queue_prefetch` names them.",
      TASKER_FIELD(worker.max_concurrent_steps), 1, 10000));
  s.push_back(string_list_setting(
      "worker.namespace_concurrency",
      "Per-namespace overrides of `max_concurrent_steps`, as "
      "\"NAMESPACE=N\".",
      TASKER_FIELD(worker.namespace_concurrency),
      "array of \"NAMESPACE=N\" with N from 1 to 10000",
      namespace_concurrency_problem));
  s.push_back(integer_setting(
      "worker.default_step_timeout_seconds",
      "Timeout of steps whose template sets no `timeout_seconds`.",
      TASKER_FIELD(worker.default_step_timeout_seconds), 1, 604800));
  s.push_back(integer_setting(
      "worker.timeout_grace_ms",
      "After a step's timeout the worker stops its handler (an `exec` "
      "command gets SIGTERM); a handler still running this many "
      "milliseconds later gets a timeout result reported in its place.",
      TASKER_FIELD(worker.timeout_grace_ms), 0, 600000));
  s.push_back(integer_setting(
      "worker.result_batch_size",
      "Step results sent in one call at most: results that finish while a "
      "send is under way go out together in the next (on PGMQ one statement "
      "and one commit, acking their step messages too). 1 sends each "
      "result on its own.",
      TASKER_FIELD(worker.result_batch_size), 1, 1000));
  s.push_back(string_list_setting(
      "worker.exec_handlers",
      "Handlers run as commands (any language, see docs/handlers.md), as "
      "\"CALLABLE=COMMAND\"; the command is split into words like a shell "
      "would, without expansion.",
      TASKER_FIELD(worker.exec_handlers), "array of \"CALLABLE=COMMAND\"",
      exec_handler_problem));
}

const ConfigSchema& ConfigSchema::instance() {
  static const ConfigSchema schema;
  return schema;
}

const ConfigSetting* ConfigSchema::find(std::string_view key) const {
  for (auto& s : settings_)
    if (s.key == key)
      return &s;
  return nullptr;
}

bool ConfigSchema::is_section(std::string_view key) const {
  for (auto& s : settings_)
    if (s.key.size() > key.size() && s.key.starts_with(key)
        && s.key[key.size()] == '.')
      return true;
  return false;
}

std::string ConfigSchema::suggest(std::string_view key) const {
  std::vector<std::string> candidates;
  for (auto& s : settings_) {
    candidates.push_back(s.key);
    for (auto dot = s.key.find('.'); dot != std::string::npos;
         dot = s.key.find('.', dot + 1))
      candidates.push_back(s.key.substr(0, dot));
  }
  return core::closest_match(key, candidates);
}

std::string ConfigSchema::render_markdown() const {
  NodeConfig defaults;
  std::ostringstream out;
  out << "# Configuration reference\n\n"
         "<!-- Generated from the configuration model by "
         "`tasker-ctl config docs`; do not edit by hand. -->\n\n"
         "Every node (`tasker-server`, `tasker-worker`, all-in-one) reads "
         "one TOML file (`--config FILE`, or the path in "
         "`TASKER_CONFIG_PATH`), then applies environment variables, which "
         "win over the file. Without a file the defaults below apply: the "
         "embedded in-memory mode, which needs no server.\n\n"
         "Start-up stops with one message naming the key, the bad value and "
         "what is allowed when a value is invalid, and names any unknown key "
         "(with the closest known key). `tasker-ctl config validate` checks a "
         "file without starting a node; `tasker-ctl config show` prints the "
         "effective values and where each came from.\n";
  std::string current_section = "-";
  for (auto& s : settings_) {
    auto section = section_of(s.key);
    if (section != current_section) {
      current_section = section;
      out << "\n## " << (section.empty() ? "Top level" : "[" + section + "]")
          << "\n\n| key | environment | default | allowed | description |\n"
             "|---|---|---|---|---|\n";
    }
    auto name = s.key.substr(section.empty() ? 0 : section.size() + 1);
    out << "| `" << name << "` | `" << s.env << "` | `" << s.show(defaults)
        << "` | " << s.allowed << " | " << s.doc << " |\n";
  }
  out << "\n## Example\n\n```toml\n"
         "messaging.backend = \"pgmq\"   # or: [messaging] backend = "
         "\"pgmq\"\n\n"
         "[database]\nurl = \"postgresql://tasker@db.internal:5432/tasker\"\n"
         "pool_size = 16\n\n"
         "[orchestration.event_system]\ndeployment_mode = \"Hybrid\"\n"
         "fallback_polling_interval_ms = 5000\n\n"
         "[worker]\nnamespaces = [\"fulfillment\", \"inventory\"]\n```\n";
  return out.str();
}

} // namespace tasker::config
