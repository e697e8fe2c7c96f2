#pragma once

#include "config/node_config.hpp"
#include "config/template_catalog.hpp"
#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"
#include "worker/handler_registry.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

/// A worker's start-up decisions (seed 000's bootstrap), apart from actors:
/// templates → namespaces served → their queues and concurrency → handlers
/// (built-in, `exec` from config, the caller's own) → queues ensured and
/// verified.
namespace tasker::worker {

/// What a worker serves, decided from configuration and templates.
struct WorkerPlan {
  /// Sorted.
  std::vector<std::string> namespaces;
  /// `worker_{ns}_queue`, in namespace order.
  std::vector<std::string> queues;
  /// Steps of each namespace run at once.
  std::map<std::string, int64_t, std::less<>> concurrency;
  /// A line for each template step whose callable no handler serves.
  std::vector<std::string> unserved_steps;
};

/// The namespaces `config.worker.namespaces` lists (every namespace of the
/// templates when empty), their queues and concurrency, and the steps the
/// registry cannot run. Fails naming a configured namespace no template
/// declares, or a concurrency override for a namespace not served.
core::Result<WorkerPlan> plan_worker(const config::NodeConfig& config,
                                     const config::TemplateCatalog& catalog,
                                     const HandlerRegistry& registry);

/// One `exec` handler per item of `config.worker.exec_handlers`, plus the
/// built-in handlers whose callables those leave free; fails naming a bad
/// item or a callable configured twice.
core::Result<std::shared_ptr<HandlerRegistry>>
make_registry(const config::WorkerConfig& config);

/// `config` with each served queue's prefetch set from its namespace's
/// concurrency, unless `rabbitmq.queue_prefetch` (or
/// `in_memory.queue_prefetch`) sets it: in memory to the concurrency (the
/// provider pushes no more than the worker runs), on RabbitMQ to twice it
/// (steps whose results are being sent stay unacked, slots free).
config::NodeConfig provider_config_for(const config::NodeConfig& config,
                                       const WorkerPlan& plan);

/// Creates the worker queues and the results queue when missing (one bulk
/// call), then verifies them: a queue still missing or declared with other
/// properties stops start-up with a message naming it.
core::Result<void> prepare_queues(messaging::MessagingProvider& provider,
                                  const WorkerPlan& plan);

/// `config.worker.worker_id`, or `worker-{host}-{pid}`.
std::string worker_id_of(const config::WorkerConfig& config);

} // namespace tasker::worker
