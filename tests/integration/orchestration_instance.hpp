// An orchestration node in a test process, on PostgreSQL (PGMQ and the
// task store side by side): its own pools, processor, event system and
// sweeper.
#pragma once

#include "actors/event_system.hpp"
#include "config/queue_names.hpp"
#include "config/template_catalog.hpp"
#include "messaging/pgmq/pgmq_provider.hpp"
#include "orchestration/orchestration_processor.hpp"
#include "orchestration/orchestration_sweeper.hpp"
#include "orchestration/pg_task_store.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tasker::testing {

using namespace std::chrono_literals;
using namespace tasker::orchestration;

inline const std::vector<std::string> kOrchestrationQueues
    = config::orchestration_queue_names();

inline messaging::PgmqProvider connect_pgmq(const std::string& url) {
  messaging::PgmqOptions options;
  options.url = url;
  options.pool_size = 4;
  auto provider = messaging::PgmqProvider::connect(options);
  REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
  return std::move(*provider);
}

inline orchestration::PgTaskStore connect_store(const std::string& url) {
  PgTaskStoreOptions options;
  options.url = url;
  options.pool_size = 4;
  options.send_with_pgmq = true;
  auto store = PgTaskStore::connect(options);
  REQUIRE_MESSAGE(store.ok(), store.error().to_string());
  return std::move(*store);
}

// One orchestration node: its own pools, processor, event system, sweeper.
struct Instance {
  messaging::MessagingProvider provider;
  TaskStoreHandle store;
  channels::orchestration_processor_actor processor;
  channels::event_system_actor events;
  channels::orchestration_sweeper_actor sweeper;

  Instance(caf::actor_system& sys, const std::string& url,
           std::shared_ptr<const config::TemplateCatalog> catalog,
           const std::string& node)
      : provider{connect_pgmq(url)}, store{connect_store(url)} {
    OrchestrationProcessorOptions options;
    options.shards = 3;
    options.shard.node = node;
    processor = sys.spawn<OrchestrationProcessor>(store, provider,
                                                  std::move(catalog), options);
    actors::EventSystemOptions es;
    es.name = "orchestration";
    es.queues = kOrchestrationQueues;
    es.config.deployment_mode = config::DeploymentMode::hybrid;
    es.config.fallback_polling_interval_ms = 200;
    es.config.max_in_flight = 200;
    es.mode_key = "orchestration.event_system.deployment_mode";
    events = sys.spawn<actors::OrchestrationEventSystem>(
        provider, processor, &actors::route_orchestration, es);
    OrchestrationSweeperOptions sweep;
    sweep.interval = 200ms;
    sweep.node = node;
    sweeper = sys.spawn<OrchestrationSweeper>(store, processor, sweep);
  }

  void stop(caf::scoped_actor& self) {
    self->request(events, 10s, channels::ShutdownEventSystem{5000})
        .receive([](channels::DrainReport&) {}, [](caf::error&) {});
    self->send_exit(sweeper, caf::exit_reason::user_shutdown);
    self->send_exit(processor, caf::exit_reason::user_shutdown);
  }
};

} // namespace tasker::testing
