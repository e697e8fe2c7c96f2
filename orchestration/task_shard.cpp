#include "orchestration/task_shard.hpp"

#include "channels/error_category.hpp"
#include "channels/message_json.hpp"
#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "orchestration/change_applier.hpp"
#include "orchestration/task_factory.hpp"

#include <functional>
#include <map>
#include <random>

namespace tasker::orchestration {

namespace {

constexpr std::string_view kComponent = "orchestration";

caf::error to_caf(const core::Error& err) {
  return channels::to_caf_error(err);
}

// An answer for the requester: the value, or the error as a `caf::error`.
template <class T>
caf::result<T> reply(core::Result<T> outcome) {
  if (!outcome)
    return to_caf(outcome.error());
  return std::move(*outcome);
}

// Takes up to `most` items off the front of `queue`, in order.
template <class T>
std::vector<T> take_front(std::vector<T>& queue, std::size_t most) {
  auto end = queue.begin()
             + static_cast<std::ptrdiff_t>(std::min(queue.size(), most));
  std::vector<T> taken(std::make_move_iterator(queue.begin()),
                       std::make_move_iterator(end));
  queue.erase(queue.begin(), end);
  return taken;
}

} // namespace

std::size_t shard_of(const std::string& task_id, std::size_t count) {
  return count == 0 ? 0 : std::hash<std::string>{}(task_id) % count;
}

TaskShard::TaskShard(caf::actor_config& cfg, TaskStoreHandle store,
                     messaging::MessagingProvider provider,
                     std::shared_ptr<const config::TemplateCatalog> catalog,
                     channels::orchestration_processor_actor front,
                     channels::outbox_relay_actor relay,
                     TaskShardOptions options)
    : channels::orchestration_shard_actor::base(cfg), store_(std::move(store)),
      provider_(std::move(provider)), catalog_(std::move(catalog)),
      front_(std::move(front)), relay_(std::move(relay)),
      options_(std::move(options)), jitter_(std::random_device{}()) {}

void TaskShard::on_exit() {
  front_ = nullptr;
  relay_ = nullptr;
}

TaskShard::behavior_type TaskShard::make_behavior() {
  using namespace channels;
  return {
      [this](InitializeTask& command) {
        return enqueue_creation(std::nullopt, command.request);
      },
      [this](InitializeTaskFromMessage& command) {
        return initialize_from(claim(command.message), command.task_id);
      },
      [this](InitializeTaskFromMessageEvent& command) {
        return initialize_from(read(command.queue, command.msg_id),
                               command.task_id);
      },
      [this](ProcessStepResult& command) {
        auto promise = make_response_promise<StepResultProcessed>();
        enqueue_result({std::move(command.result), std::nullopt, promise});
        return promise;
      },
      [this](ProcessStepResultFromMessage& command) {
        return accept_result(std::move(command.message));
      },
      [this](ProcessStepResultFromMessageEvent& command) {
        return accept_result(read(command.queue, command.msg_id));
      },
      [this](FinalizeTask& command) {
        return reply(finalize(command.task_id));
      },
      [this](FinalizeTaskFromMessage& command) {
        return reply(finalize_from(claim(command.message)));
      },
      [this](FinalizeTaskFromMessageEvent& command) {
        return reply(finalize_from(read(command.queue, command.msg_id)));
      },
      [this](CancelTask& command) {
        auto reason = command.reason;
        return reply(operator_action(
            command.task_id, [this, reason](const TaskSnapshot& s) {
              return plan_cancel(s, plan_context(), reason);
            }));
      },
      [this](ApplyStepAction& command) {
        auto action = parse_step_action(command.action);
        if (!action)
          return reply(core::Result<channels::TaskFinalized>{core::Error{
              core::ErrorCode::invalid_argument,
              "unknown step action '" + command.action
                  + "' (expected reset_for_retry, resolve_manually or "
                    "complete_manually)"}});
        auto result = nlohmann::json::parse(
            command.result_json.empty() ? "null" : command.result_json, nullptr,
            false);
        if (result.is_discarded())
          return reply(core::Result<channels::TaskFinalized>{
              core::Error{core::ErrorCode::invalid_argument,
                          "the step's result is not valid JSON"}});
        auto step = command.step_name;
        return reply(
            operator_action(command.task_id, [this, step, action = *action,
                                              result](const TaskSnapshot& s) {
              return plan_step_action(s, step, action, result, plan_context());
            }));
      },
      [this](GetProcessingStats&) {
        return stats_;
      },
      [this](OrchestrationHealthCheck&) {
        return OrchestrationHealth{
            true, true,
            true, static_cast<int64_t>(creations_.size() + pending_.size()),
            0,    ""};
      },
      [this](FlushBatches&) {
        flush();
      },
  };
}

std::optional<messaging::QueuedMessage>
TaskShard::claim(const messaging::QueuedMessage& message) {
  if (message.leased)
    return message;
  return read(message.queue, message.id);
}

std::optional<messaging::QueuedMessage>
TaskShard::read(const std::string& queue, int64_t id) {
  auto got = provider_.read_by_id(queue, id, options_.visibility_timeout);
  if (!got) {
    core::log_warn(kComponent, "claiming message " + std::to_string(id)
                                   + " of '" + queue
                                   + "' failed: " + got.error().to_string());
    return std::nullopt;
  }
  // Empty: another consumer holds it, or it is gone already.
  return *got;
}

core::Result<NewTask>
TaskShard::new_task_for(const channels::TaskRequest& request) {
  auto context = nlohmann::json::parse(request.context_json, nullptr, false);
  if (context.is_discarded())
    return core::Error{core::ErrorCode::invalid_argument,
                       "task request: context is not valid JSON"};
  auto version = request.version.empty()
                     ? std::nullopt
                     : std::optional<std::string_view>{request.version};
  const auto* tmpl
      = catalog_->find(request.namespace_name, request.name, version);
  if (tmpl == nullptr)
    return core::Error{
        core::ErrorCode::not_found,
        "no template '" + request.namespace_name + "/" + request.name
            + (request.version.empty() ? "" : "@" + request.version) + "'"};
  TaskOptions options;
  if (!request.idempotency_key.empty())
    options.idempotency_key = request.idempotency_key;
  options.priority = request.priority;
  options.initiator = request.initiator;
  options.source_system = request.source_system;
  options.reason = request.reason;
  auto new_task = make_new_task(*tmpl, context, options);
  if (!new_task)
    return new_task.error();
  new_task->id = request.task_id;
  return new_task;
}

TaskShard::CreationPromise
TaskShard::initialize_from(std::optional<messaging::QueuedMessage> message,
                           const std::string& task_id) {
  auto promise = make_response_promise<channels::TaskInitialized>();
  if (!message) {
    promise.deliver(channels::TaskInitialized{});
    return promise;
  }
  auto request = channels::task_request_from_json(message->payload);
  if (!request) {
    dead_letter(*message, request.error().message());
    promise.deliver(channels::TaskInitialized{});
    return promise;
  }
  request->task_id = task_id;
  return enqueue_creation(std::move(message), *request);
}

TaskShard::CreationPromise
TaskShard::enqueue_creation(std::optional<messaging::QueuedMessage> message,
                            const channels::TaskRequest& request) {
  PendingCreation pending{{},
                          std::move(message),
                          make_response_promise<channels::TaskInitialized>()};
  auto promise = pending.promise;
  auto task = new_task_for(request);
  if (!task) {
    settle(pending, task.error());
    return promise;
  }
  pending.task = std::move(*task);
  creations_.push_back(std::move(pending));
  if (options_.batch_creations)
    schedule_flush();
  else
    flush_creations();
  return promise;
}

void TaskShard::flush_creations() {
  auto batch = take_front(creations_, options_.max_creations);
  if (batch.empty())
    return;
  std::vector<NewTask> tasks;
  tasks.reserve(batch.size());
  for (auto& pending : batch)
    tasks.push_back(std::move(pending.task));
  ++stats_.creation_batches;
  // Created and started in one write; the start is planned on the task as
  // the store lays it out.
  auto created = store_.create_tasks(tasks, [this](const TaskSnapshot& s) {
    return plan_start(s, plan_context());
  });
  for (std::size_t i = 0; i < batch.size(); ++i)
    settle(batch[i], initialized(std::move(created[i])));
}

core::Result<channels::TaskInitialized>
TaskShard::initialized(core::Result<CreatedTask> created) {
  if (!created) {
    ++stats_.commands_failed;
    return created.error();
  }
  const auto& task_id = created->snapshot.task.id;
  channels::TaskInitialized initialized{task_id, created->created, {}};
  std::optional<TaskSnapshot> started;
  if (created->started) {
    if (created->created)
      count_finished(std::nullopt, created->snapshot);
    remember(created->snapshot);
    nudge_relay();
    started = std::move(created->snapshot);
  } else {
    // A task found pending was created by a request whose start never
    // committed (its node stopped in between): this request starts it.
    if (!created->created && created->snapshot.task.state != TaskState::pending)
      return initialized;
    auto start = plan_start(created->snapshot, plan_context());
    if (!start)
      return start.error();
    start->basis = std::make_shared<const TaskSnapshot>(created->snapshot);
    auto applied = apply_with_retries(task_id, std::move(*start),
                                      [this](const TaskSnapshot& s) {
                                        return plan_start(s, plan_context());
                                      });
    if (!applied) {
      ++stats_.commands_failed;
      return applied.error();
    }
    if (!created->created)
      return initialized;
    started = std::move(*applied);
  }
  ++stats_.tasks_initialized;
  // Replacing invalid UTF-8 instead of throwing keeps the shard alive.
  initialized.task_json = nlohmann::json(*started).dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return initialized;
}

void TaskShard::settle(PendingCreation& pending,
                       core::Result<channels::TaskInitialized> outcome) {
  if (pending.message) {
    if (outcome) {
      ack(pending.message->queue, pending.message->id);
    } else {
      // A request that can never succeed (bad template, bad context) goes
      // to the dead-letter queue; a failure of the store leaves it for a
      // retry.
      auto code = outcome.error().code();
      if (code == core::ErrorCode::invalid_argument
          || code == core::ErrorCode::not_found)
        dead_letter(*pending.message, outcome.error().message());
    }
  }
  if (outcome)
    pending.promise.deliver(std::move(*outcome));
  else
    pending.promise.deliver(to_caf(outcome.error()));
}

TaskShard::ResultPromise
TaskShard::accept_result(std::optional<messaging::QueuedMessage> message) {
  auto promise = make_response_promise<channels::StepResultProcessed>();
  if (!message) {
    promise.deliver(channels::StepResultProcessed{});
    return promise;
  }
  if (message->queue == config::kStepResultsQueue
      && (consumed_.contains(message->id)
          || pending_results_.contains(message->id))) {
    // Another copy of a result this shard decides or deleted already (one
    // came with its notification, the other from a poll).
    promise.deliver(channels::StepResultProcessed{});
    return promise;
  }
  auto result = channels::step_result_from_json(message->payload);
  if (!message->leased && !(result && decides_unclaimed(result->task_id))) {
    message = claim(*message);
    if (!message) {
      promise.deliver(channels::StepResultProcessed{});
      return promise;
    }
  }
  if (!result) {
    dead_letter(*message, result.error().message());
    promise.deliver(channels::StepResultProcessed{});
    return promise;
  }
  if (shard_of(result->task_id, options_.count) != options_.index) {
    // Read by id for another shard's task: hand it over, still leased.
    auto leased = *message;
    leased.leased = true;
    request(front_, caf::infinite,
            channels::ProcessStepResultFromMessage{std::move(leased)})
        .then(
            [promise](channels::StepResultProcessed& done) mutable {
              promise.deliver(std::move(done));
            },
            [promise](caf::error& err) mutable {
              promise.deliver(std::move(err));
            });
    return promise;
  }
  enqueue_result({std::move(*result),
                  std::make_pair(message->queue, message->id), promise});
  return promise;
}

void TaskShard::enqueue_result(PendingResult pending) {
  if (pending.ack && pending.ack->first == config::kStepResultsQueue)
    pending_results_.insert(pending.ack->second);
  pending_.push_back(std::move(pending));
  schedule_flush();
}

void TaskShard::schedule_flush() {
  if (flush_scheduled_)
    return;
  flush_scheduled_ = true;
  send(this, channels::FlushBatches{});
}

void TaskShard::flush() {
  flush_scheduled_ = false;
  flush_creations();
  flush_results();
  if (!creations_.empty() || !pending_.empty())
    schedule_flush();
}

void TaskShard::flush_results() {
  auto batch = take_front(pending_, options_.max_batch);
  if (batch.empty())
    return;
  // Every result is decided on its task as the results before it in the
  // batch leave it: `snapshot`, with `basis` while unchanged.
  struct Decided {
    TaskSnapshot snapshot;
    std::shared_ptr<const TaskSnapshot> basis;
    /// Read from the store for this batch, not remembered: a result it
    /// finds stale is stale.
    bool read = false;
  };
  // Where the store owns the queues, a written change deletes its result.
  const bool outbox = store_.sends_with_outbox();
  std::map<std::string, Decided> snapshots;
  std::vector<ChangeSet> changes;
  std::vector<std::size_t> change_of(batch.size(), SIZE_MAX);
  // Results to decide again on the stored task after the batch.
  std::vector<bool> decide_again(batch.size(), false);
  std::vector<channels::StepResultProcessed> replies(batch.size());
  std::vector<std::optional<core::Error>> failures(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& result = batch[i].result;
    replies[i] = {result.task_id, result.step_id, false};
    auto known = snapshots.find(result.task_id);
    if (known == snapshots.end()) {
      Decided decided;
      if (auto kept = recall(result.task_id)) {
        decided = Decided{*kept, kept, false};
      } else {
        auto loaded = store_.load(result.task_id);
        if (!loaded) {
          if (loaded.error().code() != core::ErrorCode::not_found)
            failures[i] = loaded.error();
          else
            core::log_warn(kComponent, "result for unknown task "
                                           + result.task_id + " dropped");
          continue;
        }
        auto basis = std::make_shared<const TaskSnapshot>(*loaded);
        decided = Decided{std::move(*loaded), std::move(basis), true};
      }
      known = snapshots.emplace(result.task_id, std::move(decided)).first;
    }
    auto change
        = plan_step_result(known->second.snapshot, result, plan_context());
    std::optional<AppliedChange> after;
    if (change)
      if (auto applied = apply_change(known->second.snapshot, *change))
        after = std::move(*applied);
    if (!after) {
      // A remembered snapshot may be behind the store (a sweeper or
      // another node moved the task on): only the stored task can tell a
      // stale or duplicate result, which is then counted and acked.
      if (!known->second.read)
        decide_again[i] = true;
      else if (!change)
        core::log_debug(kComponent, change.error().message());
      continue;
    }
    // The first change of the task in this batch carries what it was
    // decided on; the store works the next ones out after it.
    change->basis = std::exchange(known->second.basis, nullptr);
    if (batch[i].ack && batch[i].ack->first == config::kStepResultsQueue
        && !outbox)
      change->consumed_result = batch[i].ack->second;
    known->second.snapshot = std::move(after->after);
    change_of[i] = changes.size();
    changes.push_back(std::move(*change));
  }
  auto applied = store_.apply_batch(changes);
  // Only whether each change applied is read below: the snapshots move.
  for (std::size_t c = 0; c < changes.size(); ++c) {
    if (!applied[c]) {
      forget(changes[c].task_id);
      continue;
    }
    if (changes[c].task)
      count_finished(changes[c].task->expected_state, *applied[c]);
    remember(std::move(*applied[c]));
  }
  ++stats_.result_batches;
  bool wrote_messages = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (change_of[i] != SIZE_MAX) {
      auto& outcome = applied[change_of[i]];
      if (outcome) {
        replies[i].applied = true;
        wrote_messages
            = wrote_messages || !changes[change_of[i]].messages.empty();
        continue;
      }
      if (outcome.error().code() != core::ErrorCode::stale_transition) {
        failures[i] = outcome.error();
        continue;
      }
      // Another node (or an earlier change of this batch) moved the task.
      decide_again[i] = true;
    }
    if (!decide_again[i])
      continue;
    forget(batch[i].result.task_id);
    const auto result = batch[i].result;
    auto retried = apply_with_retries(
        result.task_id, std::nullopt, [this, result](const TaskSnapshot& s) {
          return plan_step_result(s, result, plan_context());
        });
    if (retried)
      replies[i].applied = true;
    else if (retried.error().code() != core::ErrorCode::stale_transition)
      failures[i] = retried.error();
  }
  if (wrote_messages)
    nudge_relay();
  std::map<std::string, std::vector<int64_t>> acks;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].ack && batch[i].ack->first == config::kStepResultsQueue)
      pending_results_.erase(batch[i].ack->second);
    if (failures[i]) {
      ++stats_.commands_failed;
      core::log_warn(kComponent, "step result for task "
                                     + batch[i].result.task_id
                                     + " not processed (it comes back): "
                                     + failures[i]->to_string());
      batch[i].promise.deliver(to_caf(*failures[i]));
      continue;
    }
    ++stats_.step_results_processed;
    // The write deleted the results it answered.
    bool consumed = change_of[i] != SIZE_MAX && applied[change_of[i]]
                    && changes[change_of[i]].consumed_result;
    if (consumed)
      note_consumed(batch[i].ack->second);
    else if (batch[i].ack)
      acks[batch[i].ack->first].push_back(batch[i].ack->second);
    batch[i].promise.deliver(replies[i]);
  }
  for (const auto& [queue, ids] : acks)
    if (auto done = provider_.ack_batch(queue, ids); !done)
      core::log_warn(kComponent, "acking " + std::to_string(ids.size())
                                     + " result(s) on '" + queue
                                     + "' failed (they come back and are "
                                       "found stale): "
                                     + done.error().to_string());
}

core::Result<channels::TaskFinalized>
TaskShard::finalize(const std::string& task_id) {
  auto evaluated = apply_with_retries(
      task_id, std::nullopt, [this](const TaskSnapshot& s) {
        ChangeSet change;
        auto planned = plan_progress(s, change, plan_context());
        if (!planned)
          return core::Result<ChangeSet>{planned.error()};
        return core::Result<ChangeSet>{std::move(change)};
      });
  if (!evaluated) {
    ++stats_.commands_failed;
    return evaluated.error();
  }
  ++stats_.tasks_finalized;
  return channels::TaskFinalized{
      task_id, true, std::string{to_string(evaluated->task.state)}, ""};
}

core::Result<channels::TaskFinalized>
TaskShard::finalize_from(std::optional<messaging::QueuedMessage> message) {
  if (!message)
    return channels::TaskFinalized{};
  auto task_id = channels::finalize_request_from_json(message->payload);
  if (!task_id) {
    dead_letter(*message, task_id.error().message());
    return channels::TaskFinalized{};
  }
  auto result = finalize(*task_id);
  if (result)
    ack(message->queue, message->id);
  return result;
}

core::Result<channels::TaskFinalized>
TaskShard::operator_action(const std::string& task_id, const Replan& plan) {
  auto applied = apply_with_retries(task_id, std::nullopt, plan);
  if (!applied) {
    ++stats_.commands_failed;
    return applied.error();
  }
  return channels::TaskFinalized{
      task_id, true, std::string{to_string(applied->task.state)}, ""};
}

core::Result<TaskSnapshot>
TaskShard::apply_with_retries(const std::string& task_id,
                              std::optional<ChangeSet> first,
                              const Replan& replan) {
  auto change = std::move(first);
  for (int32_t attempt = 0;; ++attempt) {
    if (!change) {
      auto loaded = store_.load(task_id);
      if (!loaded)
        return loaded.error();
      auto replanned = replan(*loaded);
      if (!replanned)
        return replanned.error();
      if (replanned->steps.empty() && !replanned->task
          && replanned->messages.empty())
        return *loaded;
      change = std::move(*replanned);
    }
    auto applied = store_.apply(*change);
    if (applied && change->task)
      count_finished(change->task->expected_state, *applied);
    if (applied)
      remember(*applied);
    else
      forget(task_id);
    if (applied && !change->messages.empty())
      nudge_relay();
    if (applied || applied.error().code() != core::ErrorCode::stale_transition
        || attempt >= options_.conflict_retries)
      return applied;
    // Another node changed the task first: decide again on what it did.
    change.reset();
  }
}

void TaskShard::dead_letter(const messaging::QueuedMessage& message,
                            const std::string& why) {
  provider_.dead_letter_logged(kComponent, message.queue, message.id, why);
}

void TaskShard::ack(const std::string& queue, int64_t id) {
  if (auto done = provider_.ack(queue, id); !done)
    core::log_warn(kComponent, "acking message " + std::to_string(id) + " of '"
                                   + queue + "' failed (it comes back): "
                                   + done.error().to_string());
}

void TaskShard::nudge_relay() {
  if (relay_ && store_.sends_with_outbox())
    send(relay_, channels::RelayOutbox{});
}

void TaskShard::count_finished(std::optional<TaskState> before,
                               const TaskSnapshot& after) {
  auto state = after.task.state;
  if (before == state)
    return;
  switch (state) {
    case TaskState::complete: ++stats_.tasks_complete; break;
    case TaskState::error: ++stats_.tasks_error; break;
    case TaskState::cancelled: ++stats_.tasks_cancelled; break;
    case TaskState::resolved_manually: ++stats_.tasks_resolved_manually; break;
    default: break;
  }
}

void TaskShard::remember(TaskSnapshot task) {
  if (is_terminal(task.task.state) || options_.remembered_tasks == 0) {
    forget(task.task.id);
    return;
  }
  auto id = task.task.id;
  auto [entry, added] = remembered_.insert_or_assign(
      id, std::make_shared<const TaskSnapshot>(std::move(task)));
  if (!added)
    return;
  remembered_order_.push_back(std::move(id));
  while (remembered_.size() > options_.remembered_tasks) {
    remembered_.erase(remembered_order_.front());
    remembered_order_.pop_front();
  }
  // Ids of forgotten tasks pile up in the order: drop them now and then.
  if (remembered_order_.size() > 2 * options_.remembered_tasks) {
    std::erase_if(remembered_order_, [this](const std::string& id) {
      return !remembered_.contains(id);
    });
  }
}

void TaskShard::note_consumed(int64_t msg_id) {
  constexpr std::size_t kKept = 4096;
  if (!consumed_.insert(msg_id).second)
    return;
  consumed_order_.push_back(msg_id);
  if (consumed_order_.size() > kKept) {
    consumed_.erase(consumed_order_.front());
    consumed_order_.pop_front();
  }
}

// A result that came with its notification, unclaimed, is decided without
// claiming it (a round trip and a commit fewer per step) when the store's
// write deletes it and this shard remembers its task, which makes this node
// the one deciding the task's results. Any other node that remembers the
// task too may decide it at the same time: the guarded writes let one of
// them win, and the loser forgets the task, so it claims the next results.
bool TaskShard::decides_unclaimed(const std::string& task_id) {
  return !store_.sends_with_outbox() && remembered_.contains(task_id);
}

void TaskShard::forget(const std::string& task_id) {
  remembered_.erase(task_id);
}

std::shared_ptr<const TaskSnapshot>
TaskShard::recall(const std::string& task_id) const {
  auto kept = remembered_.find(task_id);
  return kept == remembered_.end() ? nullptr : kept->second;
}

PlanContext TaskShard::plan_context() {
  return {options_.now(), options_.node, jitter_.next()};
}

} // namespace tasker::orchestration
