#include "channels/actor_system_setup.hpp"

#include "channels/error_category.hpp"
#include "channels/type_ids.hpp"

namespace tasker::channels {

void configure_actor_system(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::tasker>();
  // Work stealing lets idle scheduler threads sleep up to 10 ms between
  // looks at their queues, which a message to an actor on such a thread
  // waits for: the shared queue wakes a thread at once.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  register_error_category(cfg);
}

} // namespace tasker::channels
