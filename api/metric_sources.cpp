#include "api/metric_sources.hpp"

namespace tasker::api {

void raise_counter(web::MetricsRegistry& metrics, const std::string& name,
                   const std::string& help, uint64_t total) {
  auto& counter = metrics.counter(name, help);
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
