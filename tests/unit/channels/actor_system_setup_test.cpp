#include "channels/actor_system_setup.hpp"

#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

namespace tasker::channels {

TEST_CASE("the scheduler runs the configured number of threads, one per "
          "core by default") {
  SUBCASE("configured") {
    caf::actor_system_config cfg;
    configure_actor_system(cfg, 3);
    caf::actor_system system{cfg};
    CHECK(system.scheduler().num_workers() == 3);
  }
  SUBCASE("default") {
    caf::actor_system_config cfg;
    configure_actor_system(cfg);
    caf::actor_system system{cfg};
    CHECK(system.scheduler().num_workers()
          == std::max(std::thread::hardware_concurrency(), 1u));
  }
}

} // namespace tasker::channels
