#include "worker/worker_node.hpp"

#include "actors/event_system.hpp"
#include "actors/routed_command.hpp"
#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "worker/handler_pool.hpp"

#include <caf/scoped_actor.hpp>

#include <algorithm>

namespace tasker::worker {

namespace {

constexpr std::string_view kComponent = "worker";

} // namespace

WorkerProcessorOptions processor_options(const config::NodeConfig& config,
                                         const WorkerPlan& plan) {
  WorkerProcessorOptions options;
  options.worker_id = worker_id_of(config.worker);
  options.concurrency = plan.concurrency;
  options.default_concurrency = config.worker.max_concurrent_steps;
  auto lease = config.worker.event_system.visibility_timeout_seconds;
  if (config.messaging_backend == tasker::config::MessagingBackend::rabbitmq)
    lease = std::min(lease, config.rabbitmq.push_visibility_timeout_seconds);
  options.lease = std::chrono::seconds{lease};
  options.heartbeat = std::chrono::milliseconds{lease * 1000 / 3};
  options.default_timeout
      = std::chrono::seconds{config.worker.default_step_timeout_seconds};
  options.timeout_grace
      = std::chrono::milliseconds{config.worker.timeout_grace_ms};
  options.results.max_batch
      = static_cast<std::size_t>(config.worker.result_batch_size);
  return options;
}

WorkerNode::WorkerNode(
    caf::actor_system& system, messaging::MessagingProvider provider,
    std::shared_ptr<const HandlerRegistry> registry, const WorkerPlan& plan,
    const config::NodeConfig& config,
    decltype(WorkerProcessorOptions::observe_step) observe_step)
    : system_(system), default_deadline_(config.worker.shutdown_timeout_ms) {
  auto options = processor_options(config, plan);
  options.observe_step = std::move(observe_step);
  // A result's send is a round trip the next step need not wait for: a
  // slot passes on when the handler returns, and the send goes on on its
  // thread (a thread more per slot). On RabbitMQ the ack follows the send,
  // so the worker's prefetch is twice its slots (`provider_config_for`).
  // In memory a send is a call, not worth a thread.
  options.free_slot_before_send = actors::provider_blocks(provider);
  int64_t threads = 0;
  for (const auto& [ns, limit] : plan.concurrency)
    threads += options.free_slot_before_send ? 2 * limit : limit;
  auto pool = std::make_shared<HandlerPool>(static_cast<std::size_t>(threads));
  JobRunner run_job = [pool](std::function<void()> job) {
    pool->submit(std::move(job));
  };
  core::log_info(
      kComponent,
      "worker " + options.worker_id + ": "
          + std::to_string(plan.namespaces.size()) + " namespace(s), "
          + std::to_string(pool->threads()) + " handler thread(s), lease "
          + std::to_string(options.lease.count()) + " s extended every "
          + std::to_string(options.heartbeat.count()) + " ms");
  // Lease extensions and reported timeouts get a thread of their own when
  // the provider blocks; in memory they run on the actor.
  JobRunner run_upkeep = [](std::function<void()> job) {
    job();
  };
  if (actors::provider_blocks(provider)) {
    auto upkeep = std::make_shared<HandlerPool>(1);
    run_upkeep = [upkeep](std::function<void()> job) {
      upkeep->submit(std::move(job));
    };
  }
  processor_ = system.spawn<WorkerProcessor>(
      provider, registry, std::move(run_job), std::move(run_upkeep), options);
  for (const auto& [ns, limit] : plan.concurrency) {
    actors::EventSystemOptions es;
    es.name = "worker " + ns;
    es.queues = {tasker::config::worker_queue_name(ns)};
    es.config = config.worker.event_system;
    es.config.max_in_flight = limit;
    es.mode_key = "worker.event_system.deployment_mode";
    event_systems_.push_back(system.spawn<actors::WorkerEventSystem>(
        provider, processor_, &actors::route_worker, std::move(es)));
  }
}

WorkerNode::~WorkerNode() {
  if (!stopped_)
    shutdown(default_deadline_);
}

bool WorkerNode::shutdown(std::chrono::milliseconds deadline) {
  if (stopped_)
    return true;
  stopped_ = true;
  caf::scoped_actor self{system_};
  bool drained = true;
  // Every namespace drains at once; the reports come back as messages.
  for (auto& events : event_systems_)
    self->send(events, channels::ShutdownEventSystem{deadline.count()});
  for (std::size_t i = 0; i < event_systems_.size(); ++i)
    self->receive(
        [&](channels::DrainReport& report) {
          drained = drained && report.drained;
        },
        [&](caf::error& err) {
          drained = false;
          core::log_warn(kComponent, "an event system did not drain: "
                                         + caf::to_string(err));
        },
        caf::after(deadline + std::chrono::seconds{5}) >>
            [&] {
              drained = false;
              core::log_warn(kComponent, "an event system did not answer its "
                                         "shutdown in time");
            });
  self->monitor(processor_);
  self->send(processor_, channels::ShutdownWorker{});
  bool down = false;
  self->receive(
      [&](caf::down_msg&) {
        down = true;
      },
      caf::after(std::chrono::seconds{2}) >>
          [&] {
            core::log_warn(kComponent, "steps still running at shutdown "
                                       "were abandoned; their messages come "
                                       "back after their lease");
            self->send_exit(processor_, caf::exit_reason::user_shutdown);
          });
  if (!down)
    self->receive([](caf::down_msg&) {});
  // Only now: closing a subscription voids the leases of its messages.
  for (auto& events : event_systems_) {
    self->monitor(events);
    self->send_exit(events, caf::exit_reason::user_shutdown);
  }
  for (std::size_t i = 0; i < event_systems_.size(); ++i)
    self->receive([](caf::down_msg&) {});
  event_systems_.clear();
  processor_ = nullptr;
  return drained && down;
}

} // namespace tasker::worker
