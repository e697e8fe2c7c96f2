#pragma once

#include "channels/event_system_messages.hpp"
#include "messaging/messaging_provider.hpp"
#include "web/metrics_registry.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// The metrics both nodes take from the same sources, set by their
/// collectors at scrape time.
namespace tasker::api {

/// Raises counter `name{labels}` to `total`, a running total an actor
/// reports.
void raise_counter(web::MetricsRegistry& metrics, const std::string& name,
                   const std::string& help, uint64_t total,
                   const web::MetricsRegistry::Labels& labels = {});

/// Sets `tasker_event_system_in_flight` and `..._saturation` of one event
/// system, and raises its intake counters (`..._notifications_total`,
/// `..._polled_messages_total`, `..._deferred_total`,
/// `..._duplicates_total`).
void record_event_system(web::MetricsRegistry& metrics,
                         const channels::EventSystemStatus& status);

/// Sets `tasker_queue_depth` of each queue the provider can measure.
void record_queue_depths(web::MetricsRegistry& metrics,
                         messaging::MessagingProvider provider,
                         const std::vector<std::string>& queues);

} // namespace tasker::api
