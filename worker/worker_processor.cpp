#include "worker/worker_processor.hpp"

#include "channels/error_category.hpp"
#include "channels/message_json.hpp"
#include "config/queue_names.hpp"
#include "core/logger.hpp"

#include <caf/send.hpp>

#include <algorithm>

namespace tasker::worker {

namespace {

constexpr std::string_view kComponent = "worker";

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::seconds timeout_of(const channels::StepMessage& step,
                                std::chrono::seconds default_timeout) {
  return step.timeout_seconds ? std::chrono::seconds{*step.timeout_seconds}
                              : default_timeout;
}

std::string describe(const channels::StepMessage& step) {
  return "step '" + step.step_name + "' (" + step.step_id + ") of task "
         + step.task_id + ", attempt " + std::to_string(step.attempt);
}

channels::StepResult make_result(const channels::StepMessage& step,
                                 const StepOutcome& outcome,
                                 const std::string& worker_id,
                                 int64_t started_us) {
  channels::StepResult result;
  result.task_id = step.task_id;
  result.step_id = step.step_id;
  result.attempt = step.attempt;
  result.success = outcome.success;
  if (outcome.success) {
    result.result_json = outcome.result.dump();
  } else {
    result.error_message = outcome.error_message;
    result.error_type = outcome.error_type;
    result.retryable = outcome.retryable;
    result.backoff_hint_ms = outcome.backoff_hint.count();
  }
  result.worker_id = worker_id;
  result.started_at_us = started_us;
  result.completed_at_us = now_us();
  return result;
}

} // namespace

WorkerProcessor::WorkerProcessor(
    caf::actor_config& cfg, messaging::MessagingProvider provider,
    std::shared_ptr<const HandlerRegistry> registry, JobRunner run_job,
    JobRunner run_upkeep, WorkerProcessorOptions options)
    : channels::worker_executor_actor::base(cfg),
      provider_(std::move(provider)), registry_(std::move(registry)),
      run_job_(std::move(run_job)), run_upkeep_(std::move(run_upkeep)),
      options_(std::move(options)),
      upkeep_counters_(std::make_shared<UpkeepCounters>()),
      results_(std::make_shared<ResultSender>(provider_transport(provider_),
                                              options_.results)) {
  counters_.worker_id = options_.worker_id;
}

WorkerProcessor::behavior_type WorkerProcessor::make_behavior() {
  delayed_send(this, options_.heartbeat, channels::LeaseTick{});
  return {
      [this](channels::ExecuteStepFromMessage& command) {
        auto queue = command.message.queue;
        auto id = command.message.id;
        return admit(std::move(queue), id, std::move(command.message));
      },
      [this](channels::ExecuteStepFromEvent& command) {
        return admit(std::move(command.queue), command.msg_id, std::nullopt);
      },
      [this](channels::GetWorkerStatus&) {
        return status();
      },
      [this](channels::WorkerHealthCheck&) {
        auto now = status();
        channels::WorkerHealth health;
        health.healthy = !stopping_;
        health.database_connected = true;
        health.active_steps = now.active_steps;
        health.max_concurrent_steps = now.max_concurrent_steps;
        if (stopping_)
          health.detail = "shutting down";
        return health;
      },
      [this](channels::ShutdownWorker&) {
        stopping_ = true;
        for (auto& [ns, queue] : waiting_)
          for (auto& waiting : queue)
            waiting.promise.deliver(channels::StepExecuted{});
        waiting_.clear();
        core::log_info(kComponent,
                       "shutting down: " + std::to_string(executions_.size())
                           + " step(s) still running");
        if (executions_.empty())
          quit();
      },
      [this](channels::StepReady& ready) {
        auto i = executions_.find(ready.execution);
        if (i != executions_.end())
          on_ready(i->second);
      },
      [this](channels::StepHandled& handled) {
        on_handled(handled.execution);
      },
      [this](channels::StepFinished& finished) {
        on_finished(finished.execution);
      },
      [this](channels::DeadlinesDue&) {
        on_deadlines_due();
      },
      [this](channels::LeaseTick&) {
        extend_leases();
        delayed_send(this, options_.heartbeat, channels::LeaseTick{});
      },
  };
}

void WorkerProcessor::on_exit() {
  for (auto& [id, execution] : executions_) {
    execution->abandoned = true;
    execution->stop.request_stop();
  }
  executions_.clear();
  waiting_.clear();
  run_job_ = nullptr;
  run_upkeep_ = nullptr;
}

caf::typed_response_promise<channels::StepExecuted>
WorkerProcessor::admit(std::string queue, int64_t msg_id,
                       std::optional<messaging::QueuedMessage> message) {
  ++counters_.steps_received;
  auto promise = make_response_promise<channels::StepExecuted>();
  auto namespace_name = config::namespace_of_worker_queue(queue);
  if (auto seen = in_progress_.find({queue, msg_id});
      seen != in_progress_.end() && !stopping_) {
    auto& execution = *executions_.at(seen->second);
    if (message && message->leased && !execution.running
        && !execution.leased_copy) {
      execution.leased_copy
          = Waiting{std::move(queue), msg_id, std::move(message), promise};
      return promise;
    }
    // The running step acks it when done; a lapsed lease brought it back.
    core::log_warn(kComponent, "message " + std::to_string(msg_id) + " of '"
                                   + queue
                                   + "' delivered again while its step runs "
                                     "here (its lease lapsed)");
    promise.deliver(channels::StepExecuted{});
    return promise;
  }
  if (stopping_ || !namespace_name) {
    if (!namespace_name)
      core::log_warn(kComponent, "'" + queue
                                     + "' is not a worker queue; message "
                                     + std::to_string(msg_id) + " left alone");
    promise.deliver(channels::StepExecuted{});
    return promise;
  }
  Waiting waiting{std::move(queue), msg_id, std::move(message), promise};
  if (active_[*namespace_name] >= limit_of(*namespace_name)) {
    waiting_[*namespace_name].push_back(std::move(waiting));
    return promise;
  }
  start(std::move(waiting), std::move(*namespace_name));
  return promise;
}

void WorkerProcessor::start(Waiting waiting, std::string namespace_name) {
  auto execution = std::make_shared<Execution>();
  execution->id = next_id_++;
  execution->queue = std::move(waiting.queue);
  execution->msg_id = waiting.msg_id;
  execution->message = std::move(waiting.message);
  execution->promise = std::move(waiting.promise);
  execution->namespace_name = std::move(namespace_name);
  auto& active = active_[execution->namespace_name];
  ++active;
  counters_.peak_namespace_utilization = std::max(
      counters_.peak_namespace_utilization,
      static_cast<double>(active)
          / static_cast<double>(limit_of(execution->namespace_name)));
  in_progress_[{execution->queue, execution->msg_id}] = execution->id;
  executions_.emplace(execution->id, execution);
  auto self = caf::actor_cast<channels::worker_executor_actor>(this);
  // Runs the handler, sends the result unless the timeout did, tells the
  // actor. Not once the actor has gone: the message comes back after its
  // lease.
  std::function<void()> handler
      = [self, results = results_, registry = registry_,
         worker_id = options_.worker_id, observe = options_.observe_step,
         early = options_.free_slot_before_send, execution] {
          if (execution->abandoned)
            return;
          auto started = now_us();
          auto clock_started = std::chrono::steady_clock::now();
          StepInput input{execution->step, execution->deadline,
                          execution->stop.get_token()};
          auto outcome = registry->run(input);
          if (observe)
            observe(execution->namespace_name, outcome.success,
                    std::chrono::steady_clock::now() - clock_started);
          bool ours = !execution->settled.exchange(true);
          if (ours) {
            execution->success = outcome.success;
            execution->error_type = outcome.error_type;
          }
          if (early)
            caf::anon_send(self, channels::StepHandled{execution->id});
          if (ours)
            execution->sent = results->send(
                make_result(execution->step, outcome, worker_id, started),
                execution->queue, execution->msg_id);
          caf::anon_send(self, channels::StepFinished{execution->id});
        };
  // A leased message is decoded here and its handler started at once: the
  // actor learns nothing more until the step finishes.
  if (execution->message && execution->message->leased) {
    auto step = channels::step_message_from_json(execution->message->payload);
    if (!step) {
      run_job_([self, provider = provider_, execution,
                why = step.error().message()]() mutable {
        dead_letter(provider, *execution, why);
        caf::anon_send(self, channels::StepFinished{execution->id});
      });
      return;
    }
    claimed(*execution, std::move(*step), options_.default_timeout);
    on_ready(execution);
    run_job_(std::move(handler));
    return;
  }
  // Claims (a read by id) and decodes on a handler thread (the read waits
  // on the provider), then hands the handler on from there (the pool runs
  // it on the same thread): the actor learns that the step started
  // (`StepReady`) but does not stand between the claim and the handler.
  run_job_([self, provider = provider_, lease = options_.lease,
            default_timeout = options_.default_timeout, run_job = run_job_,
            handler = std::move(handler), execution]() mutable {
    auto got = provider.read_by_id(execution->queue, execution->msg_id, lease);
    if (!got)
      core::log_warn(kComponent, "claiming message "
                                     + std::to_string(execution->msg_id)
                                     + " of '" + execution->queue
                                     + "' failed: " + got.error().to_string());
    if (!got || !got->has_value()) {
      // Another worker holds it, or it is gone already.
      execution->claim = Claim::not_claimed;
      caf::anon_send(self, channels::StepFinished{execution->id});
      return;
    }
    execution->message = std::move(**got);
    auto step = channels::step_message_from_json(execution->message->payload);
    if (!step) {
      dead_letter(provider, *execution, step.error().message());
      caf::anon_send(self, channels::StepFinished{execution->id});
      return;
    }
    claimed(*execution, std::move(*step), default_timeout);
    caf::anon_send(self, channels::StepReady{execution->id});
    run_job(std::move(handler));
  });
}

void WorkerProcessor::dead_letter(messaging::MessagingProvider& provider,
                                  Execution& execution,
                                  const std::string& why) {
  provider.dead_letter_logged(kComponent, execution.queue, execution.msg_id,
                              why);
  execution.claim = Claim::dead_lettered;
}

void WorkerProcessor::claimed(Execution& execution, channels::StepMessage step,
                              std::chrono::seconds default_timeout) {
  execution.step = std::move(step);
  execution.claim = Claim::claimed;
  execution.deadline = std::chrono::steady_clock::now()
                       + timeout_of(execution.step, default_timeout);
}

void WorkerProcessor::on_ready(const ExecutionPtr& execution) {
  ++counters_.steps_claimed;
  execution->running = true;
  add_deadline(timeout_of(execution->step, options_.default_timeout),
               {execution->id, false});
}

void WorkerProcessor::on_handled(uint64_t id) {
  auto i = executions_.find(id);
  if (i == executions_.end())
    return;
  auto& execution = *i->second;
  if (execution.deadline_entry) {
    deadlines_.erase(*execution.deadline_entry);
    execution.deadline_entry.reset();
  }
  release(execution);
  start_waiting(execution.namespace_name);
}

void WorkerProcessor::on_finished(uint64_t id) {
  auto i = executions_.find(id);
  if (i == executions_.end())
    return;
  auto execution = i->second;
  executions_.erase(i);
  if (execution->deadline_entry)
    deadlines_.erase(*execution->deadline_entry);
  in_progress_.erase({execution->queue, execution->msg_id});
  if (execution->claim == Claim::dead_lettered)
    ++counters_.steps_dead_lettered;
  if (execution->claim == Claim::claimed) {
    ++(execution->success ? counters_.steps_succeeded : counters_.steps_failed);
    if (execution->error_type == "handler_timeout")
      ++counters_.steps_timed_out;
    if (!execution->sent && !execution->timeout_reported)
      ++counters_.results_unsent;
  }
  release(*execution);
  if (auto copy = std::move(execution->leased_copy)) {
    if (execution->claim == Claim::not_claimed && !stopping_)
      start(std::move(*copy), execution->namespace_name);
    else
      copy->promise.deliver(channels::StepExecuted{});
  }
  start_waiting(execution->namespace_name);
  if (stopping_ && executions_.empty())
    quit();
}

void WorkerProcessor::release(Execution& execution) {
  if (execution.released)
    return;
  execution.released = true;
  answer(execution);
  --active_[execution.namespace_name];
}

void WorkerProcessor::answer(Execution& execution) {
  channels::StepExecuted reply;
  reply.task_id = execution.step.task_id;
  reply.step_id = execution.step.step_id;
  reply.claimed = execution.claim == Claim::claimed
                  || execution.claim == Claim::dead_lettered;
  reply.success = execution.success;
  execution.promise.deliver(std::move(reply));
}

void WorkerProcessor::start_waiting(const std::string& namespace_name) {
  auto i = waiting_.find(namespace_name);
  while (i != waiting_.end() && !i->second.empty()
         && active_[namespace_name] < limit_of(namespace_name)) {
    auto next = std::move(i->second.front());
    i->second.pop_front();
    start(std::move(next), namespace_name);
  }
}

void WorkerProcessor::add_deadline(caf::timespan after, Deadline deadline) {
  auto at = clock().now() + after;
  auto entry = deadlines_.emplace(at, deadline);
  if (auto i = executions_.find(deadline.execution); i != executions_.end())
    i->second->deadline_entry = entry;
  if (!timer_at_ || at < *timer_at_) {
    timer_at_ = at;
    delayed_send(this, after, channels::DeadlinesDue{});
  }
}

void WorkerProcessor::on_deadlines_due() {
  auto now = clock().now();
  // The timer counted on has fired (one replaced by an earlier timer
  // fires later for nothing).
  if (timer_at_ && *timer_at_ <= now)
    timer_at_.reset();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto deadline = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    if (auto i = executions_.find(deadline.execution); i != executions_.end())
      i->second->deadline_entry.reset();
    on_deadline(deadline);
  }
  if (!deadlines_.empty()
      && (!timer_at_ || deadlines_.begin()->first < *timer_at_)) {
    timer_at_ = deadlines_.begin()->first;
    delayed_send(this, *timer_at_ - now, channels::DeadlinesDue{});
  }
}

void WorkerProcessor::on_deadline(const Deadline& deadline) {
  auto i = executions_.find(deadline.execution);
  if (i == executions_.end() || i->second->settled)
    return;
  auto& execution = *i->second;
  if (!deadline.final) {
    core::log_warn(kComponent,
                   describe(execution.step)
                       + " passed its timeout; stopping its handler");
    execution.stop.request_stop();
    add_deadline(options_.timeout_grace, {execution.id, true});
    return;
  }
  if (execution.settled.exchange(true))
    return;
  core::log_warn(kComponent,
                 "the handler of " + describe(execution.step)
                     + " did not return after its timeout; reporting the "
                       "timeout in its place (its slot stays taken until it "
                       "returns)");
  auto outcome
      = StepOutcome::failed("the handler '" + execution.step.callable
                                + "' did not finish within the step's timeout",
                            true, {}, "handler_timeout");
  execution.success = false;
  execution.error_type = outcome.error_type;
  execution.timeout_reported = true;
  run_upkeep_([results = results_, counters = upkeep_counters_,
               result = make_result(execution.step, outcome, options_.worker_id,
                                    now_us()),
               queue = execution.queue, msg_id = execution.msg_id] {
    if (!results->send_alone(result, queue, msg_id))
      ++counters->results_unsent;
  });
}

void WorkerProcessor::extend_leases() {
  std::vector<ExecutionPtr> due;
  for (auto& [id, execution] : executions_) {
    // A lease younger than one heartbeat has most of its time left.
    if (!execution->running || execution->settled
        || execution->lease_ticks++ == 0)
      continue;
    due.push_back(execution);
  }
  if (due.empty())
    return;
  run_upkeep_([provider = provider_, lease = options_.lease,
               counters = upkeep_counters_, due = std::move(due)]() mutable {
    for (const auto& execution : due) {
      if (execution->settled)
        continue;
      auto extended = provider.extend_visibility(execution->queue,
                                                 execution->msg_id, lease);
      if (extended) {
        ++counters->lease_extensions;
        continue;
      }
      // Its result went out (and acked the message) since the check.
      if (execution->settled)
        continue;
      core::log_warn(kComponent, "extending the lease of "
                                     + describe(execution->step)
                                     + " failed (another worker may run it "
                                       "too; orchestration keeps one result): "
                                     + extended.error().to_string());
    }
  });
}

int64_t WorkerProcessor::limit_of(const std::string& namespace_name) const {
  auto i = options_.concurrency.find(namespace_name);
  return i == options_.concurrency.end() ? options_.default_concurrency
                                         : i->second;
}

channels::WorkerStatus WorkerProcessor::status() const {
  auto out = counters_;
  out.lease_extensions += upkeep_counters_->lease_extensions;
  out.results_unsent += upkeep_counters_->results_unsent;
  out.active_steps = 0;
  for (const auto& [ns, active] : active_)
    out.active_steps += active;
  out.max_concurrent_steps = 0;
  for (const auto& [ns, limit] : options_.concurrency)
    out.max_concurrent_steps += limit;
  return out;
}

} // namespace tasker::worker
