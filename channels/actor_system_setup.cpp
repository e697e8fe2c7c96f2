#include "channels/actor_system_setup.hpp"

#include "channels/error_category.hpp"
#include "channels/type_ids.hpp"

#include <algorithm>
#include <thread>

namespace tasker::channels {

void configure_actor_system(caf::actor_system_config& cfg,
                            std::size_t scheduler_threads) {
  cfg.add_message_types<caf::id_block::tasker>();
  // Work stealing lets idle scheduler threads sleep up to 10 ms between
  // looks at their queues, which a message to an actor on such a thread
  // waits for: the shared queue wakes a thread at once.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  // CAF's default is at least four: on fewer cores the extra threads only
  // add wake-ups (in memory linear-4 P50 1.60 -> 1.24 ms with two on two).
  cfg.set("scheduler.max-threads",
          scheduler_threads != 0
              ? scheduler_threads
              : std::max<std::size_t>(std::thread::hardware_concurrency(), 1));
  register_error_category(cfg);
}

} // namespace tasker::channels
