#include "orchestration/orchestration_node.hpp"

#include "actors/event_system.hpp"
#include "actors/routed_command.hpp"
#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "messaging/queue_setup.hpp"

#include <caf/scoped_actor.hpp>

#include <unistd.h>

#include <array>

namespace tasker::orchestration {

namespace {

constexpr std::string_view kComponent = "orchestration";

} // namespace

core::Result<TaskStoreHandle>
open_task_store(const config::NodeConfig& config) {
  const auto& kind = config.orchestration.task_store;
  bool in_memory
      = kind == "in_memory"
        || (kind == "auto"
            && config.messaging_backend == config::MessagingBackend::in_memory);
  if (in_memory) {
    InMemoryTaskStoreOptions options;
    options.finished_tasks_kept = static_cast<std::size_t>(
        config.orchestration.in_memory_finished_tasks_kept);
    core::log_info(kComponent,
                   "task store: in memory (lost at exit), keeping the last "
                       + std::to_string(options.finished_tasks_kept)
                       + " finished tasks (0: all)");
    return TaskStoreHandle{InMemoryTaskStore{options}};
  }
  PgTaskStoreOptions options;
  options.url = config.database.url;
  options.pool_size = static_cast<int32_t>(config.database.pool_size);
  options.connect_retries
      = static_cast<int32_t>(config.database.connect_retries);
  options.connect_timeout
      = std::chrono::seconds{config.database.connect_timeout_seconds};
  options.send_with_pgmq
      = config.messaging_backend == config::MessagingBackend::pgmq
        && config.pgmq_url() == config.database.url;
  auto store = PgTaskStore::connect(options);
  if (!store)
    return core::Error{store.error().code(),
                       "task store (database.url): " + store.error().message()};
  return TaskStoreHandle{std::move(*store)};
}

core::Result<void>
prepare_orchestration_queues(messaging::MessagingProvider& provider,
                             const config::TemplateCatalog& catalog) {
  auto queues = config::orchestration_queue_names();
  for (const auto& queue : catalog.queue_names())
    queues.push_back(queue);
  return messaging::ensure_and_verify_queues(provider, queues, "orchestration");
}

OrchestrationProcessorOptions
processor_options(const config::NodeConfig& config, const std::string& node) {
  OrchestrationProcessorOptions options;
  options.shards = static_cast<std::size_t>(config.orchestration.shards);
  options.shard.node = node;
  options.shard.visibility_timeout = std::chrono::seconds{
      config.orchestration.event_system.visibility_timeout_seconds};
  return options;
}

OrchestrationSweeperOptions sweeper_options(const config::NodeConfig& config,
                                            const std::string& node) {
  const auto& o = config.orchestration;
  OrchestrationSweeperOptions options;
  options.interval = std::chrono::milliseconds{o.sweep_interval_ms};
  options.timeout_grace = std::chrono::seconds{o.step_timeout_grace_seconds};
  options.limits.waiting_for_dependencies
      = std::chrono::minutes{o.max_waiting_for_dependencies_minutes};
  options.limits.waiting_for_retry
      = std::chrono::minutes{o.max_waiting_for_retry_minutes};
  options.limits.steps_in_process
      = std::chrono::minutes{o.max_steps_in_process_minutes};
  options.limits.lifetime = std::chrono::minutes{o.max_task_lifetime_minutes};
  options.node = node;
  return options;
}

std::string orchestration_node_name() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0)
    host = {'h', 'o', 's', 't'};
  return "orchestration-" + std::string{host.data()} + "-"
         + std::to_string(getpid());
}

OrchestrationNode::OrchestrationNode(
    caf::actor_system& system, messaging::MessagingProvider provider,
    TaskStoreHandle store,
    std::shared_ptr<const config::TemplateCatalog> catalog,
    const config::NodeConfig& config)
    : system_(system), store_(store),
      default_deadline_(config.orchestration.shutdown_timeout_ms) {
  auto node = orchestration_node_name();
  processor_ = system.spawn<OrchestrationProcessor>(
      store, provider, std::move(catalog), processor_options(config, node));
  actors::EventSystemOptions es;
  es.name = "orchestration";
  es.queues = config::orchestration_queue_names();
  es.config = config.orchestration.event_system;
  es.mode_key = "orchestration.event_system.deployment_mode";
  event_system_ = system.spawn<actors::OrchestrationEventSystem>(
      provider, processor_, &actors::route_orchestration, std::move(es));
  sweeper_ = system.spawn<OrchestrationSweeper>(store, processor_,
                                                sweeper_options(config, node));
  core::log_info(
      kComponent,
      "node " + node + ": " + std::to_string(config.orchestration.shards)
          + " shard(s), sweep every "
          + std::to_string(config.orchestration.sweep_interval_ms)
          + " ms, task store " + (store.blocks() ? "PostgreSQL" : "in memory"));
}

OrchestrationNode::~OrchestrationNode() {
  if (!stopped_)
    shutdown(default_deadline_);
}

bool OrchestrationNode::shutdown(std::chrono::milliseconds deadline) {
  if (stopped_)
    return true;
  stopped_ = true;
  caf::scoped_actor self{system_};
  bool drained = false;
  self->request(event_system_, deadline + std::chrono::seconds{5},
                channels::ShutdownEventSystem{deadline.count()})
      .receive(
          [&](channels::DrainReport& report) {
            drained = report.drained;
          },
          [&](caf::error& err) {
            core::log_warn(kComponent, "the event system did not drain: "
                                           + caf::to_string(err));
          });
  for (const auto& actor : {caf::actor_cast<caf::actor>(sweeper_),
                            caf::actor_cast<caf::actor>(processor_)}) {
    self->monitor(actor);
    self->send_exit(actor, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
  }
  // Only now: closing its subscription voids the leases of its messages.
  self->monitor(event_system_);
  self->send_exit(event_system_, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {});
  event_system_ = nullptr;
  sweeper_ = nullptr;
  processor_ = nullptr;
  return drained;
}

} // namespace tasker::orchestration
