#include "actors/event_system.hpp"

#include <type_traits>

namespace tasker::actors {

bool provider_blocks(const messaging::MessagingProvider& provider) {
  return provider.visit([](const auto& concrete) {
    using Concrete = std::decay_t<decltype(concrete)>;
    return !std::is_same_v<Concrete, messaging::InMemoryProvider>;
  });
}

template class NotificationRouter<channels::orchestration_processor_actor,
                                  OrchestrationRoute>;
template class NotificationRouter<channels::worker_processor_actor,
                                  WorkerRoute>;
template class EventSystem<channels::orchestration_processor_actor,
                           OrchestrationRoute>;
template class EventSystem<channels::worker_processor_actor, WorkerRoute>;

} // namespace tasker::actors
