#pragma once

#include <caf/actor_system_config.hpp>

/// Setting up CAF for Tasker.
namespace tasker::channels {

/// Registers Tasker's type-ID block and error category on `cfg` and sizes
/// its scheduler (`scheduler_threads`; 0: one thread per core): the one
/// place production and tests set up CAF.
void configure_actor_system(caf::actor_system_config& cfg,
                            std::size_t scheduler_threads = 0);

} // namespace tasker::channels
