#include "orchestration/orchestration_sweeper.hpp"

#include "core/logger.hpp"
#include "orchestration/workflow_planner.hpp"

namespace tasker::orchestration {

namespace {

constexpr std::string_view kComponent = "sweeper";

// Names the limit a stale task passed.
std::string staleness_reason(const TaskRecord& task,
                             const StalenessLimits& limits, TimePoint now) {
  auto minutes = [](std::chrono::minutes m) {
    return std::to_string(m.count()) + " min";
  };
  if (task.created_at + limits.lifetime <= now)
    return "alive for more than " + minutes(limits.lifetime);
  auto limit = task.state == TaskState::waiting_for_dependencies
                   ? limits.waiting_for_dependencies
               : task.state == TaskState::waiting_for_retry
                   ? limits.waiting_for_retry
                   : limits.steps_in_process;
  return std::string{to_string(task.state)} + " for more than "
         + minutes(limit);
}

} // namespace

OrchestrationSweeper::OrchestrationSweeper(
    caf::actor_config& cfg, TaskStoreHandle store,
    channels::orchestration_processor_actor processor,
    OrchestrationSweeperOptions options)
    : channels::orchestration_sweeper_actor::base(cfg),
      store_(std::move(store)), processor_(std::move(processor)),
      options_(std::move(options)) {}

void OrchestrationSweeper::on_exit() {
  processor_ = nullptr;
}

OrchestrationSweeper::behavior_type OrchestrationSweeper::make_behavior() {
  delayed_send(this, options_.interval, channels::SweepTick{});
  return {
      [this](channels::SweepTick&) {
        sweep();
        delayed_send(this, options_.interval, channels::SweepTick{});
      },
  };
}

void OrchestrationSweeper::sweep() {
  const auto now = options_.now();
  auto ignore_error = [](caf::error&) {};
  if (auto due = store_.due_retries(now, options_.batch); !due) {
    core::log_warn(kComponent,
                   "finding due retries failed: " + due.error().to_string());
  } else {
    for (const auto& task_id : *due)
      request(processor_, caf::infinite, channels::FinalizeTask{task_id})
          .then([](channels::TaskFinalized&) {}, ignore_error);
  }
  if (auto overdue
      = store_.overdue_steps(now, options_.timeout_grace, options_.batch);
      !overdue) {
    core::log_warn(kComponent, "finding overdue steps failed: "
                                   + overdue.error().to_string());
  } else {
    for (const auto& step : *overdue) {
      core::log_warn(kComponent, "step " + step.step_id + " of task "
                                     + step.task_id + " (attempt "
                                     + std::to_string(step.attempts)
                                     + ") ran past its timeout");
      auto result = timeout_result(step.task_id, step.step_id, step.attempts,
                                   "step ran past its timeout");
      result.worker_id = options_.node;
      request(processor_, caf::infinite,
              channels::ProcessStepResult{std::move(result)})
          .then([](channels::StepResultProcessed&) {}, ignore_error);
    }
  }
  if (auto stale = store_.stale_tasks(now, options_.limits, options_.batch);
      !stale) {
    core::log_warn(kComponent,
                   "finding stale tasks failed: " + stale.error().to_string());
  } else {
    for (const auto& task_id : *stale)
      expire(task_id, now);
  }
}

void OrchestrationSweeper::expire(const std::string& task_id, TimePoint now) {
  auto snapshot = store_.load(task_id);
  if (!snapshot)
    return;
  auto why = staleness_reason(snapshot->task, options_.limits, now);
  auto change = plan_expire(*snapshot, {now, options_.node, 0.5}, why);
  if (!change)
    return;
  auto applied = store_.apply(*change);
  if (applied)
    core::log_warn(kComponent, "task " + task_id + " expired to error (" + why
                                   + "); see its dead-letter record");
  else if (applied.error().code() != core::ErrorCode::stale_transition)
    core::log_warn(kComponent, "expiring task " + task_id
                                   + " failed: " + applied.error().to_string());
}

} // namespace tasker::orchestration
