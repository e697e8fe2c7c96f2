#include "channels/actor_system_setup.hpp"

#include "channels/local_first_policy.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
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

TEST_CASE("the scheduler keeps a job made ready by a running actor on its "
          "thread unless the configuration names one of CAF's policies") {
  SUBCASE("default") {
    caf::actor_system_config cfg;
    configure_actor_system(cfg, 2);
    caf::actor_system system{cfg};
    CHECK(dynamic_cast<caf::scheduler::coordinator<LocalFirstPolicy>*>(
              &system.scheduler())
          != nullptr);
    // A chain of actors, each answering by asking the next one.
    auto last = system.spawn([]() -> caf::behavior {
      return {[](int x) {
        return x + 1;
      }};
    });
    auto first = system.spawn([last](caf::event_based_actor* self) {
      return caf::behavior{[self, last](int x) {
        return self->delegate(last, x * 2);
      }};
    });
    caf::scoped_actor caller{system};
    int answer = 0;
    caller->request(first, std::chrono::seconds{30}, 20)
        .receive(
            [&](int x) {
              answer = x;
            },
            [&](const caf::error& e) {
              FAIL(system.render(e));
            });
    CHECK(answer == 41);
  }
  SUBCASE("testing") {
    caf::actor_system_config cfg;
    configure_actor_system(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    caf::actor_system system{cfg};
    CHECK(dynamic_cast<caf::scheduler::test_coordinator*>(&system.scheduler())
          != nullptr);
  }
}

} // namespace tasker::channels
