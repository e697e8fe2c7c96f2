#include "channels/actor_system_setup.hpp"

#include "channels/error_category.hpp"
#include "channels/local_first_policy.hpp"
#include "channels/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <algorithm>
#include <thread>

namespace tasker::channels {
namespace {

// CAF builds its own scheduler only when no module factory made one; this
// one builds ours unless `scheduler.policy` names one of CAF's (tests set
// "testing" for the deterministic coordinator).
caf::actor_system::module* make_scheduler(caf::actor_system& system) {
  auto policy = caf::get_or(system.config(), "scheduler.policy",
                            caf::atom("localfirst"));
  if (policy == caf::atom("testing"))
    return new caf::scheduler::test_coordinator(system);
  if (policy == caf::atom("sharing"))
    return new caf::scheduler::coordinator<caf::policy::work_sharing>(system);
  if (policy == caf::atom("stealing"))
    return new caf::scheduler::coordinator<caf::policy::work_stealing>(system);
  return new caf::scheduler::coordinator<LocalFirstPolicy>(system);
}

} // namespace

void configure_actor_system(caf::actor_system_config& cfg,
                            std::size_t scheduler_threads) {
  cfg.add_message_types<caf::id_block::tasker>();
  // CAF's work stealing lets idle scheduler threads sleep up to 10 ms
  // between looks at their queues, which a message to an actor on such a
  // thread waits for; CAF's work sharing wakes a thread at every message
  // between actors. Ours wakes one only for work this thread cannot run
  // next (LocalFirstPolicy).
  cfg.set("scheduler.policy", caf::atom("localfirst"));
  cfg.module_factories.push_back(&make_scheduler);
  // CAF's default is at least four: on fewer cores the extra threads only
  // add wake-ups (in memory linear-4 P50 1.60 -> 1.24 ms with two on two).
  cfg.set("scheduler.max-threads",
          scheduler_threads != 0
              ? scheduler_threads
              : std::max<std::size_t>(std::thread::hardware_concurrency(), 1));
  register_error_category(cfg);
}

} // namespace tasker::channels
