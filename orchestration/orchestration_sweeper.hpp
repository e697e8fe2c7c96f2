#pragma once

#include "channels/actor_interfaces.hpp"
#include "orchestration/task_store_handle.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace tasker::orchestration {

struct OrchestrationSweeperOptions {
  std::chrono::milliseconds interval{1000};
  /// Added to a step's `timeout_seconds` before it counts as overdue.
  std::chrono::seconds timeout_grace{30};
  StalenessLimits limits;
  /// Most items of each kind per sweep.
  int32_t batch = 500;
  /// The node's name, recorded in the history.
  std::string node = "orchestration";
  /// The time sweeps look at (tests move it by hand).
  std::function<TimePoint()> now = [] {
    return Clock::now();
  };
};

/// The timeout and staleness sweeper. Every interval it asks the store for
/// due work and hands it to the processor, so that the owning shard decides
/// under the same guards as for any message: tasks with a retry due are
/// re-evaluated (`FinalizeTask`, which dispatches the retry), steps past
/// their timeout get a retryable `timeout` result for the overdue attempt,
/// and tasks stuck past their limits expire to `error` with a dead-letter
/// record (a guarded change it applies itself). It logs what it did.
class OrchestrationSweeper
    : public channels::orchestration_sweeper_actor::base {
 public:
  OrchestrationSweeper(caf::actor_config& cfg, TaskStoreHandle store,
                       channels::orchestration_processor_actor processor,
                       OrchestrationSweeperOptions options);

  const char* name() const override {
    return "orchestration_sweeper";
  }

  behavior_type make_behavior() override;

  void on_exit() override;

 private:
  void sweep();
  void expire(const std::string& task_id, TimePoint now);

  TaskStoreHandle store_;
  channels::orchestration_processor_actor processor_;
  OrchestrationSweeperOptions options_;
};

} // namespace tasker::orchestration
