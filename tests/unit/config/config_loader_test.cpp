#include "config/config_loader.hpp"

#include "config/config_schema.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

using namespace tasker::config;
using tasker::core::ErrorCode;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string load_error(const std::string& toml, const Environment& env = {}) {
  auto loaded = ConfigLoader::load_text(toml, "node.toml", env);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code() == ErrorCode::invalid_config);
  return loaded.error().message();
}

// Returns a TOML document setting one dotted key.
std::string toml_for(const std::string& key, const std::string& value) {
  auto dot = key.rfind('.');
  if (dot == std::string::npos)
    return key + " = " + value + "\n";
  return "[" + key.substr(0, dot) + "]\n" + key.substr(dot + 1) + " = " + value
         + "\n";
}

} // namespace

TEST_CASE("without file or environment every key has its default") {
  auto loaded = ConfigLoader::load(std::nullopt, {});
  REQUIRE(loaded.ok());
  auto& c = loaded->config;
  CHECK(c.messaging_backend == MessagingBackend::in_memory);
  CHECK(c.environment == "development");
  CHECK(c.pgmq.visibility_timeout_seconds == 30);
  CHECK(c.rabbitmq.prefetch == 100);
  CHECK(c.orchestration.event_system.deployment_mode == DeploymentMode::hybrid);
  CHECK(c.orchestration.event_system.fallback_polling_interval_ms == 5000);
  CHECK(c.worker.event_system.fallback_polling_interval_ms == 1000);
  CHECK(c.pgmq_url() == c.database.url);
  CHECK_FALSE(loaded->file.has_value());
  for (auto& [key, origin] : loaded->origins)
    CHECK(origin == "default");
}

TEST_CASE(
    "a TOML file sets keys in sections, nested sections and dotted form") {
  auto loaded = ConfigLoader::load_text(R"(
environment = "production"
messaging.backend = "pgmq"
[database]
url = "postgresql://tasker@db:5432/tasker"
pool_size = 16
[pgmq]
url = "postgres://queues:5432/q"
batch_size = 50
[orchestration.event_system]
deployment_mode = "PollingOnly"
max_in_flight = 64
[worker]
namespaces = ["fulfillment", "inventory"]
bind_address = "0.0.0.0:9000"
)",
                                        "node.toml", {});
  REQUIRE(loaded.ok());
  auto& c = loaded->config;
  CHECK(c.environment == "production");
  CHECK(c.messaging_backend == MessagingBackend::pgmq);
  CHECK(c.database.pool_size == 16);
  CHECK(c.pgmq_url() == "postgres://queues:5432/q");
  CHECK(c.pgmq.batch_size == 50);
  CHECK(c.orchestration.event_system.deployment_mode
        == DeploymentMode::polling_only);
  CHECK(c.orchestration.event_system.max_in_flight == 64);
  CHECK(c.worker.namespaces
        == std::vector<std::string>{"fulfillment", "inventory"});
  CHECK(c.worker.bind_address == "0.0.0.0:9000");
  CHECK(loaded->origins.at("pgmq.batch_size") == "file");
  CHECK(loaded->origins.at("pgmq.poll_interval_ms") == "default");
}

TEST_CASE("environment variables win over the file") {
  Environment env{
      {"TASKER_MESSAGING_BACKEND", "rabbitmq"},
      {"DATABASE_URL", "postgresql://env-db/tasker"},
      {"RABBITMQ_URL", "amqps://user:pw@broker:5671/%2f"},
      {"TASKER_TEMPLATE_PATH", "/etc/tasker/templates"},
      {"TASKER_ENV", "test"},
      {"TASKER_PGMQ_BATCH_SIZE", " 7 "},
      {"TASKER_WORKER_NAMESPACES", "a, b,,c"},
      {"TASKER_WORKER_EVENT_SYSTEM_DEPLOYMENT_MODE", "event_driven_only"}};
  auto loaded = ConfigLoader::load_text(
      "messaging.backend = \"pgmq\"\n[pgmq]\nbatch_size = 3\n", "node.toml",
      env);
  REQUIRE(loaded.ok());
  auto& c = loaded->config;
  CHECK(c.messaging_backend == MessagingBackend::rabbitmq);
  CHECK(c.database.url == "postgresql://env-db/tasker");
  CHECK(c.rabbitmq.url == "amqps://user:pw@broker:5671/%2f");
  CHECK(c.template_path == "/etc/tasker/templates");
  CHECK(c.environment == "test");
  CHECK(c.pgmq.batch_size == 7);
  CHECK(c.worker.namespaces == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.worker.event_system.deployment_mode
        == DeploymentMode::event_driven_only);
  CHECK(loaded->origins.at("pgmq.batch_size") == "TASKER_PGMQ_BATCH_SIZE");
  CHECK(loaded->origins.at("messaging.backend") == "TASKER_MESSAGING_BACKEND");
}

TEST_CASE("every setting has a doc line, an environment variable and a "
          "default that passes its own check") {
  std::set<std::string> envs;
  NodeConfig defaults;
  for (auto& s : ConfigSchema::instance().settings()) {
    CAPTURE(s.key);
    CHECK_FALSE(s.doc.empty());
    CHECK_FALSE(s.allowed.empty());
    CHECK((s.env.starts_with("TASKER_") || s.env.ends_with("_URL")));
    CHECK(envs.insert(s.env).second);
    auto loaded = ConfigLoader::load_text(toml_for(s.key, s.show(defaults)),
                                          "roundtrip.toml", {});
    CHECK_MESSAGE(loaded.ok(), (loaded ? "" : loaded.error().message()));
  }
}

TEST_CASE("an invalid value names the key, the value, the source and what is "
          "allowed") {
  auto message = load_error("[pgmq]\nbatch_size = 0\n");
  CHECK(contains(message, "pgmq.batch_size = 0 (node.toml:2)"));
  CHECK(contains(message, "expected integer from 1 to 10000"));

  message = load_error("[pgmq]\nbatch_size = \"twenty\"\n");
  CHECK(contains(message, "got a string"));

  message = load_error("messaging.backend = \"kafka\"\n");
  CHECK(contains(message, "messaging.backend = \"kafka\""));
  CHECK(contains(message, "\"pgmq\", \"rabbitmq\", \"in_memory\""));

  message = load_error("[orchestration.event_system]\n"
                       "deployment_mode = \"Polling\"\n");
  CHECK(contains(message, "\"EventDrivenOnly\", \"PollingOnly\", \"Hybrid\""));

  message = load_error("[rabbitmq]\nurl = \"http://broker\"\n");
  CHECK(contains(message, "amqp:// or amqps://"));

  message = load_error("[database]\nurl = \"mysql://x\"\n");
  CHECK(contains(message, "postgresql://"));

  message = load_error("[worker]\nbind_address = \"0.0.0.0:99999\"\n");
  CHECK(contains(message, "worker.bind_address"));
  CHECK(contains(message, "65535"));

  message = load_error("[worker]\nnamespaces = [\"Bad-Name\"]\n");
  CHECK(contains(message, "invalid namespace 'Bad-Name'"));

  message = load_error("[worker]\nnamespaces = [1, 2]\n");
  CHECK(contains(message, "an array of non-strings"));

  message = load_error("environment = \"staging\"\n");
  CHECK(contains(message, "\"development\", \"test\", \"production\""));

  message = load_error("[pgmq.batch_size]\nx = 1\n");
  CHECK(contains(message, "pgmq.batch_size"));
  CHECK(contains(message, "got a table"));

  message = load_error("log_level = true\n");
  CHECK(contains(message, "got a boolean"));

  message = load_error("scheduler_threads = 1000\n");
  CHECK(contains(message, "scheduler_threads"));
  CHECK(contains(message, "expected integer from 0 to 256"));
}

TEST_CASE("an invalid environment value names the variable and the key") {
  auto message = load_error("", {{"TASKER_PGMQ_BATCH_SIZE", "12x"}});
  CHECK(contains(message, "TASKER_PGMQ_BATCH_SIZE = \"12x\""));
  CHECK(contains(message, "sets pgmq.batch_size"));
  CHECK(contains(message, "expected integer from 1 to 10000"));
  message = load_error("", {{"TASKER_MESSAGING_BACKEND", "sqs"}});
  CHECK(contains(message, "TASKER_MESSAGING_BACKEND"));
}

TEST_CASE("an unknown key is an error that suggests the closest key") {
  auto message = load_error("[pgmq]\nvisiblity_timeout_seconds = 10\n");
  CHECK(contains(message, "unknown key 'pgmq.visiblity_timeout_seconds' "
                          "(node.toml:2)"));
  CHECK(contains(message, "did you mean 'pgmq.visibility_timeout_seconds'?"));
  message = load_error("[kafka]\nbrokers = 3\n");
  CHECK(contains(message, "unknown key 'kafka'"));
  message = load_error("[pgqm]\nbatch_size = 3\n");
  CHECK(contains(message, "did you mean 'pgmq'?"));
  message = load_error("[orchestration]\nbind = \"x\"\n");
  CHECK(contains(message, "unknown key 'orchestration.bind'"));
}

TEST_CASE("all problems are reported together") {
  auto message
      = load_error("[pgmq]\nbatch_size = 0\npoll_interval_ms = 1\ntypo = 1\n");
  CHECK(contains(message, "invalid configuration (3 problems)"));
}

TEST_CASE("malformed TOML names the file, line and column") {
  auto message = load_error("[pgmq\nbatch_size = 1\n");
  CHECK(contains(message, "cannot parse node.toml:1:"));
}

TEST_CASE("unknown TASKER_ variables are warned about, not fatal") {
  auto loaded
      = ConfigLoader::load_text("", "node.toml",
                                {{"TASKER_PGMQ_BATCHSIZE", "3"},
                                 {"TASKER_TEST_DATABASE_URL", "postgresql://x"},
                                 {"HOME", "/root"}});
  REQUIRE(loaded.ok());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(contains(loaded->warnings[0], "TASKER_PGMQ_BATCHSIZE"));
  CHECK(contains(loaded->warnings[0], "did you mean TASKER_PGMQ_BATCH_SIZE?"));
}

TEST_CASE("the file comes from --config, else from TASKER_CONFIG_PATH") {
  tasker::testing::TempDir dir{"tasker_config_test"};
  auto file = dir.write("node.toml", "[rabbitmq]\nprefetch = 5\n");
  auto by_path = ConfigLoader::load(
      std::nullopt, Environment{{"TASKER_CONFIG_PATH", file.string()}});
  REQUIRE(by_path.ok());
  CHECK(by_path->config.rabbitmq.prefetch == 5);
  CHECK(by_path->file == file);
  auto by_flag = ConfigLoader::load(file, {});
  REQUIRE(by_flag.ok());
  CHECK(by_flag->config.rabbitmq.prefetch == 5);
  auto missing = ConfigLoader::load(
      std::nullopt, Environment{{"TASKER_CONFIG_PATH",
                                 (dir.path() / "absent.toml").string()}});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == ErrorCode::io_error);
  CHECK(contains(missing.error().message(), "absent.toml"));
  CHECK(contains(missing.error().message(), "TASKER_CONFIG_PATH"));
}

TEST_CASE("config show renders every key with its origin") {
  auto loaded = ConfigLoader::load_text("[pgmq]\nbatch_size = 9\n", "n.toml",
                                        {{"RABBITMQ_URL", "amqp://h/%2f"}});
  REQUIRE(loaded.ok());
  auto text = ConfigLoader::render_toml(*loaded);
  CHECK(contains(text, "[pgmq]\n"));
  CHECK(contains(text, "batch_size = 9  # file"));
  CHECK(contains(text, "url = \"amqp://h/%2f\"  # RABBITMQ_URL"));
  // What `config show` prints must load back to the same configuration.
  auto again = ConfigLoader::load_text(text, "shown.toml", {});
  REQUIRE(again.ok());
  CHECK(again->config.pgmq.batch_size == 9);
  CHECK(again->config.rabbitmq.url == "amqp://h/%2f");
}

TEST_CASE("docs/configuration.md is generated from the model and up to date") {
  auto path
      = std::filesystem::path{TASKER_SOURCE_DIR} / "docs" / "configuration.md";
  std::ifstream in{path};
  REQUIRE_MESSAGE(in.good(), "missing " << path);
  std::stringstream text;
  text << in.rdbuf();
  auto expected = ConfigSchema::instance().render_markdown();
  CHECK_MESSAGE(text.str() == expected,
                "docs/configuration.md is stale: regenerate it with "
                "`tasker-ctl config docs > docs/configuration.md`");
  for (auto& s : ConfigSchema::instance().settings())
    CHECK(contains(expected, "`" + s.env + "`"));
}

TEST_CASE("RabbitMQ topology settings are checked item by item") {
  auto loaded = ConfigLoader::load_text(
      "[rabbitmq]\ntopic_exchange = \"tasker.steps\"\n"
      "topic_bindings = [\"fulfillment.*=worker_fulfillment_queue\"]\n"
      "queue_prefetch = [\"worker_fulfillment_queue=10\"]\n",
      "node.toml", {});
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
  CHECK(loaded->config.rabbitmq.topic_exchange == "tasker.steps");
  auto binding = split_assignment(loaded->config.rabbitmq.topic_bindings[0]);
  REQUIRE(binding.has_value());
  CHECK(binding->first == "fulfillment.*");
  CHECK(binding->second == "worker_fulfillment_queue");

  auto message
      = load_error("[rabbitmq]\ntopic_bindings = [\"fulfillment.*\"]\n");
  CHECK(contains(message, "rabbitmq.topic_bindings"));
  CHECK(contains(message, "PATTERN=QUEUE"));
  message = load_error("[rabbitmq]\nqueue_prefetch = [\"worker_a_queue=0\"]\n");
  CHECK(contains(message, "N from 1 to 65535"));
  message = load_error("[rabbitmq]\ntopic_exchange = \"Bad Exchange\"\n");
  CHECK(contains(message, "rabbitmq.topic_exchange"));
  CHECK_FALSE(split_assignment("a=b=c").has_value());
  CHECK_FALSE(split_assignment("=b").has_value());
}
