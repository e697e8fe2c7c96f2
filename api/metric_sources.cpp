#include "api/metric_sources.hpp"

namespace tasker::api {

void raise_counter(web::MetricsRegistry& metrics, const std::string& name,
                   const std::string& help, uint64_t total,
                   const web::MetricsRegistry::Labels& labels) {
  auto& counter = metrics.counter(name, help, labels);
  if (static_cast<double>(total) > counter.value())
    counter.inc(static_cast<double>(total) - counter.value());
}

void record_event_system(web::MetricsRegistry& metrics,
                         const channels::EventSystemStatus& status) {
  metrics
      .gauge("tasker_event_system_in_flight",
             "Commands in flight in an event system.",
             {{"event_system", status.name}})
      .set(static_cast<double>(status.stats.in_flight));
  metrics
      .gauge("tasker_event_system_saturation",
             "In-flight commands over the event system's limit.",
             {{"event_system", status.name}})
      .set(status.stats.saturation());
  const web::MetricsRegistry::Labels labels{{"event_system", status.name}};
  const auto& stats = status.stats;
  raise_counter(metrics, "tasker_event_system_notifications_total",
                "Notifications an event system received.", stats.notifications,
                labels);
  raise_counter(metrics, "tasker_event_system_polled_messages_total",
                "Messages an event system claimed in polls.",
                stats.polled_messages, labels);
  raise_counter(metrics, "tasker_event_system_deferred_total",
                "Notifications deferred to a poll (saturated or behind a "
                "backlog).",
                stats.deferred, labels);
  raise_counter(metrics, "tasker_event_system_duplicates_total",
                "Messages seen twice and routed once.", stats.duplicates,
                labels);
}

void record_queue_depths(web::MetricsRegistry& metrics,
                         messaging::MessagingProvider provider,
                         const std::vector<std::string>& queues) {
  for (const auto& queue : queues)
    if (auto depth = provider.metrics(queue))
      metrics
          .gauge("tasker_queue_depth", "Messages in a queue, leased or not.",
                 {{"queue", queue}})
          .set(static_cast<double>(depth->depth));
}

} // namespace tasker::api
