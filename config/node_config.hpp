#pragma once

#include "config/deployment_mode.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tasker::config {

/// The messaging provider a node talks through.
enum class MessagingBackend { pgmq, rabbitmq, in_memory };

/// Returns "pgmq", "rabbitmq" or "in_memory".
std::string_view to_string(MessagingBackend backend);

std::optional<MessagingBackend> parse_messaging_backend(std::string_view text);

/// Splits "LEFT=RIGHT" (both non-empty, trimmed of nothing); returns
/// nothing for any other text.
std::optional<std::pair<std::string, std::string>>
split_assignment(std::string_view item);

/// PostgreSQL: the source of truth for workflow state (and PGMQ's home).
struct DatabaseConfig {
  std::string url = "postgresql://127.0.0.1:5432/tasker";
  int64_t pool_size = 8;
  int64_t connect_timeout_seconds = 10;
  int64_t connect_retries = 5;
};

/// The PostgreSQL queue provider.
struct PgmqConfig {
  /// Empty: the queues live in `database.url`.
  std::string url;
  int64_t visibility_timeout_seconds = 30;
  int64_t batch_size = 20;
  int64_t poll_interval_ms = 1000;
  int64_t max_message_size_bytes = 1048576;
  int64_t max_deliveries = 5;
};

/// The RabbitMQ provider.
struct RabbitMqConfig {
  std::string url = "amqp://guest:guest@127.0.0.1:5672/%2f";
  int64_t prefetch = 100;
  int64_t heartbeat_seconds = 30;
  int64_t connection_timeout_seconds = 10;
  int64_t connect_retries = 5;
  int64_t max_deliveries = 5;
  std::string declaration_conflict_policy = "fail";
  /// "quorum" or "classic": the kind of queue declared.
  std::string queue_type = "quorum";
  /// Seconds a pushed message stays leased before it is delivered again.
  int64_t push_visibility_timeout_seconds = 30;
  /// Per-queue prefetch overrides, "QUEUE=N".
  std::vector<std::string> queue_prefetch;
  /// A topic exchange for publishers that route by key; empty: none.
  std::string topic_exchange;
  /// Bindings of `topic_exchange`, "PATTERN=QUEUE".
  std::vector<std::string> topic_bindings;
};

/// The in-process provider (embedded default and unit tests).
struct InMemoryConfig {
  int64_t max_deliveries = 5;
  int64_t max_message_size_bytes = 1048576;
  /// Unacked pushes per subscription of particular queues, "QUEUE=N".
  std::vector<std::string> queue_prefetch;
};

/// How one event system takes in work.
struct EventSystemConfig {
  DeploymentMode deployment_mode = DeploymentMode::hybrid;
  int64_t fallback_polling_interval_ms = 1000;
  int64_t batch_size = 20;
  int64_t visibility_timeout_seconds = 30;
  /// Commands in flight before the event system stops reading.
  int64_t max_in_flight = 1000;
};

struct OrchestrationConfig {
  EventSystemConfig event_system{DeploymentMode::hybrid, 5000, 20, 30, 1000};
  std::string bind_address = "127.0.0.1:8080";
  int64_t shutdown_timeout_ms = 30000;
  /// Empty: the REST API needs no key.
  std::string api_key;
  int64_t max_request_bytes = 1048576;
  /// Where workflow state lives: "auto" (in memory with the in-memory
  /// provider, else PostgreSQL), "postgresql" or "in_memory".
  std::string task_store = "auto";
  /// Finished tasks the in-memory store keeps (0: all).
  int64_t in_memory_finished_tasks_kept = 10000;
  /// Task shards working in parallel.
  int64_t shards = 4;
  int64_t sweep_interval_ms = 1000;
  /// Added to a step's timeout before orchestration fails it as overdue.
  int64_t step_timeout_grace_seconds = 30;
  int64_t max_waiting_for_dependencies_minutes = 60;
  int64_t max_waiting_for_retry_minutes = 30;
  int64_t max_steps_in_process_minutes = 30;
  int64_t max_task_lifetime_minutes = 1440;
};

struct WorkerConfig {
  /// `max_in_flight` is not read: each namespace's limit is its concurrency.
  EventSystemConfig event_system{DeploymentMode::hybrid, 1000, 20, 30, 100};
  std::string bind_address = "127.0.0.1:8081";
  /// Namespaces served; empty serves every namespace found in templates.
  std::vector<std::string> namespaces;
  int64_t shutdown_timeout_ms = 30000;
  /// Empty: `worker-{host}-{pid}`.
  std::string worker_id;
  /// Steps of one namespace run at once.
  int64_t max_concurrent_steps = 10;
  /// Per-namespace overrides of `max_concurrent_steps`, "NAMESPACE=N".
  std::vector<std::string> namespace_concurrency;
  /// The timeout of steps whose template sets none.
  int64_t default_step_timeout_seconds = 300;
  /// After a step's timeout, how long its handler may take to stop.
  int64_t timeout_grace_ms = 2000;
  /// Results sent (and their step messages acked) in one call at most.
  int64_t result_batch_size = 64;
  /// Handlers run as commands, "CALLABLE=COMMAND".
  std::vector<std::string> exec_handlers;
};

/// Everything a node (orchestration, worker, or both in one process) reads
/// at start-up. Defaults run the embedded mode: in-memory, no servers.
struct NodeConfig {
  std::string environment = "development";
  std::string log_level = "info";
  std::string template_path = "examples/templates";
  /// Threads running the actors that never block; 0: one per core.
  int64_t scheduler_threads = 0;
  MessagingBackend messaging_backend = MessagingBackend::in_memory;
  DatabaseConfig database;
  PgmqConfig pgmq;
  RabbitMqConfig rabbitmq;
  InMemoryConfig in_memory;
  OrchestrationConfig orchestration;
  WorkerConfig worker;

  /// Returns the PostgreSQL URL the PGMQ provider uses.
  const std::string& pgmq_url() const {
    return pgmq.url.empty() ? database.url : pgmq.url;
  }
};

} // namespace tasker::config
