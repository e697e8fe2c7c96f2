#include "channels/actor_system_setup.hpp"

#include "channels/error_category.hpp"
#include "channels/type_ids.hpp"

namespace tasker::channels {

void configure_actor_system(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::tasker>();
  register_error_category(cfg);
}

} // namespace tasker::channels
