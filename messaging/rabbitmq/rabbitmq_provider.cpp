#include "messaging/rabbitmq/rabbitmq_provider.hpp"

#include "messaging/provider_checks.hpp"

#include "config/queue_names.hpp"
#include "core/logger.hpp"
#include "messaging/rabbitmq/amqp_message.hpp"
#include "messaging/rabbitmq/rabbitmq_topology.hpp"
#include "messaging/rabbitmq/rabbitmq_worker.hpp"

#include <algorithm>
#include <exception>

namespace tasker::messaging {

namespace {

// Returns the ready count of an existing queue (passive declare on the
// worker's session), or `queue_not_found`.
core::Result<uint32_t> ready_count(RabbitMqWorker& worker,
                                   const std::string& queue) {
  auto session = worker.session();
  if (!session)
    return session.error();
  auto found = (*session)->inspect_queue(queue);
  if (!found)
    return found.error();
  if (!found->has_value())
    return queue_not_found(queue);
  return **found;
}

using core::Error;
using core::ErrorCode;

using Timed = std::pair<AmqpMessage, std::chrono::milliseconds>;

core::Result<void> check_options(const RabbitMqOptions& options) {
  auto bad = [](std::string what) {
    return Error{ErrorCode::invalid_config, "rabbitmq." + std::move(what)};
  };
  if (options.url.empty())
    return bad("url is empty");
  if (options.prefetch < 1 || options.prefetch > 65535)
    return bad("prefetch must be 1 to 65535, not "
               + std::to_string(options.prefetch));
  if (options.max_deliveries < 1)
    return bad("max_deliveries must be at least 1, not "
               + std::to_string(options.max_deliveries));
  if (options.connection_timeout.count() < 1)
    return bad("connection_timeout must be at least 1 s");
  if (options.heartbeat.count() < 0 || options.heartbeat.count() > 65535)
    return bad("heartbeat must be 0 to 65535 s");
  for (const auto& [queue, prefetch] : options.queue_prefetch) {
    if (prefetch < 1 || prefetch > 65535)
      return bad("prefetch of queue '" + queue + "' must be 1 to 65535");
  }
  for (const auto& binding : options.topic_bindings) {
    if (options.topic_exchange.empty())
      return bad("topic_bindings need a topic_exchange");
    if (auto valid = config::validate_queue_name(binding.queue); !valid)
      return bad("topic_bindings: " + valid.error().message());
  }
  return {};
}

/// Runs `f`, turning an exception into an `internal` error naming the
/// operation and queue: no exception leaves the provider.
template <class F>
auto guarded(std::string_view operation, std::string_view queue, F&& f)
    -> decltype(f()) {
  auto fail = [&](std::string_view what) {
    return Error{ErrorCode::internal, "rabbitmq " + std::string{operation}
                                          + " on queue '" + std::string{queue}
                                          + "' failed: " + std::string{what}};
  };
  try {
    return f();
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception");
  }
}

} // namespace

struct RabbitMqProvider::State {
  State(std::shared_ptr<RabbitMqShared> shared,
        std::shared_ptr<RabbitMqWorker> calls)
      : shared(std::move(shared)), calls(std::move(calls)) {}

  ~State() {
    calls->stop();
  }

  std::shared_ptr<RabbitMqShared> shared;
  /// Runs every call that is not about a lease held by a subscription.
  std::shared_ptr<RabbitMqWorker> calls;

  const RabbitMqOptions& options() const {
    return shared->options;
  }

  /// Adds a queue and its dead-letter queue to the listed queues and, when
  /// this provider declared them, to those a reconnect redeclares.
  void remember(const std::string& queue, bool declared) {
    std::vector<std::string> names{queue};
    if (!is_dead_letter_queue(queue))
      names.push_back(config::dead_letter_queue_name(queue));
    std::lock_guard<std::mutex> guard{shared->mutex};
    for (const auto& name : names) {
      shared->known_queues.insert(name);
      if (declared)
        shared->declared_queues.insert(name);
    }
  }

  std::shared_ptr<RabbitMqWorker> owner_of(const std::string& queue,
                                           int64_t id) {
    std::lock_guard<std::mutex> guard{shared->mutex};
    auto it = shared->lease_owners.find({queue, id});
    return it == shared->lease_owners.end() ? nullptr : it->second.lock();
  }

  /// Runs `f` on the worker holding the lease. From another worker's
  /// thread (a handler) it is queued instead of awaited, so two handlers
  /// never wait on each other; failures are then logged.
  template <class F>
  static core::Result<void> run_on(const std::shared_ptr<RabbitMqWorker>& owner,
                                   F f) {
    if (RabbitMqWorker::on_any_worker() && !owner->is_current()) {
      owner->post([f](RabbitMqWorker& worker) mutable {
        if (auto done = f(worker); !done)
          core::log_warn("rabbitmq", done.error().message());
      });
      return {};
    }
    return owner->call(f);
  }

  template <class F>
  core::Result<void> on_owner(const std::string& queue, int64_t id, F f) {
    auto owner = owner_of(queue, id);
    if (!owner)
      return lease_not_found(queue, id);
    return run_on(owner, std::move(f));
  }

  /// The delays of the delay queues known for `queue`.
  std::set<int64_t> delays_of(const std::string& queue) {
    std::lock_guard<std::mutex> guard{shared->mutex};
    auto it = shared->delays.find(queue);
    return it == shared->delays.end() ? std::set<int64_t>{} : it->second;
  }
};

RabbitMqProvider::RabbitMqProvider(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

core::Result<RabbitMqProvider>
RabbitMqProvider::connect(RabbitMqOptions options) {
  return guarded("connect", "", [&]() -> core::Result<RabbitMqProvider> {
    if (auto valid = check_options(options); !valid)
      return valid.error();
    auto attempts = std::max(options.connect_retries, int32_t{1});
    auto shared = std::make_shared<RabbitMqShared>(std::move(options));
    auto calls = std::make_shared<RabbitMqWorker>(shared, "provider calls",
                                                  std::nullopt);
    if (auto started = calls->start(attempts); !started)
      return started.error();
    auto state = std::make_shared<State>(shared, calls);
    auto declared = calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      if (!session)
        return core::Result<void>{session.error()};
      return declare_topic_exchange(
          **session, shared->options,
          shared->options.declaration_conflict_policy);
    });
    if (!declared)
      return declared.error();
    return RabbitMqProvider{std::move(state)};
  });
}

ProviderCapabilities RabbitMqProvider::capabilities() const {
  ProviderCapabilities out;
  out.requires_fallback_polling = false;
  out.supports_fetch_by_message_id = false;
  out.supports_visibility_extension = true;
  out.max_message_size = state_->options().max_message_size;
  out.exact_metrics = false;
  return out;
}

// -- queue lifecycle ----------------------------------------------------------

core::Result<void> RabbitMqProvider::create_queue(const std::string& queue) {
  return guarded("create_queue", queue, [&]() -> core::Result<void> {
    if (auto valid = check_creatable(queue); !valid)
      return valid;
    auto created = state_->calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      if (!session)
        return core::Result<void>{session.error()};
      return declare_queue_topology(
          **session, state_->options(), queue,
          state_->options().declaration_conflict_policy);
    });
    if (created)
      state_->remember(queue, /*declared*/ true);
    return created;
  });
}

core::Result<void> RabbitMqProvider::delete_queue(const std::string& queue) {
  return guarded("delete_queue", queue, [&]() -> core::Result<void> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    auto delays = state_->delays_of(queue);
    auto deleted = state_->calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      if (!session)
        return core::Result<void>{session.error()};
      auto& s = **session;
      auto found = s.inspect_queue(queue);
      if (!found)
        return core::Result<void>{found.error()};
      if (!found->has_value())
        return core::Result<void>{queue_not_found(queue)};
      worker.forget_queue(queue);
      if (auto ok = s.delete_queue(queue); !ok)
        return ok;
      for (auto delay : delays) {
        if (auto ok = s.delete_queue(
                delay_queue_name(queue, std::chrono::milliseconds{delay}));
            !ok)
          return ok;
      }
      if (is_dead_letter_queue(queue))
        return core::Result<void>{};
      auto dead_letters = config::dead_letter_queue_name(queue);
      worker.forget_queue(dead_letters);
      if (auto ok = s.delete_queue(dead_letters); !ok)
        return ok;
      return s.delete_exchange(queue + "_dlx", queue);
    });
    if (deleted) {
      std::lock_guard<std::mutex> guard{state_->shared->mutex};
      state_->shared->delays.erase(queue);
      for (auto* set :
           {&state_->shared->known_queues, &state_->shared->declared_queues}) {
        set->erase(queue);
        if (!is_dead_letter_queue(queue))
          set->erase(config::dead_letter_queue_name(queue));
      }
    }
    return deleted;
  });
}

core::Result<bool> RabbitMqProvider::queue_exists(const std::string& queue) {
  return guarded("queue_exists", queue, [&]() -> core::Result<bool> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    return state_->calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      if (!session)
        return core::Result<bool>{session.error()};
      auto found = (*session)->inspect_queue(queue);
      if (!found)
        return core::Result<bool>{found.error()};
      return core::Result<bool>{found->has_value()};
    });
  });
}

core::Result<std::vector<std::string>> RabbitMqProvider::list_queues() {
  using Names = std::vector<std::string>;
  return guarded("list_queues", "", [&]() -> core::Result<Names> {
    Names known;
    {
      std::lock_guard<std::mutex> guard{state_->shared->mutex};
      known.assign(state_->shared->known_queues.begin(),
                   state_->shared->known_queues.end());
    }
    return state_->calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      if (!session)
        return core::Result<Names>{session.error()};
      Names out;
      for (const auto& queue : known) {
        auto found = (*session)->inspect_queue(queue);
        if (!found)
          return core::Result<Names>{found.error()};
        if (found->has_value()) {
          out.push_back(queue);
        } else {
          std::lock_guard<std::mutex> guard{state_->shared->mutex};
          state_->shared->known_queues.erase(queue);
        }
      }
      return core::Result<Names>{std::move(out)};
    });
  });
}

core::Result<void>
RabbitMqProvider::ensure_queues(const std::vector<std::string>& queues) {
  return guarded("ensure_queues", "", [&]() -> core::Result<void> {
    for (const auto& queue : queues) {
      if (auto valid = check_creatable(queue); !valid)
        return valid;
    }
    return state_->calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      if (!session)
        return core::Result<void>{session.error()};
      for (const auto& queue : queues) {
        if (auto ok = declare_queue_topology(
                **session, state_->options(), queue,
                state_->options().declaration_conflict_policy);
            !ok)
          return ok;
        state_->remember(queue, /*declared*/ true);
      }
      return core::Result<void>{};
    });
  });
}

core::Result<QueueHealthReport>
RabbitMqProvider::verify_queues(const std::vector<std::string>& queues) {
  return guarded("verify_queues", "", [&]() -> core::Result<QueueHealthReport> {
    QueueHealthReport report;
    std::vector<std::string> checked;
    for (const auto& queue : queues) {
      if (auto valid = config::validate_queue_name(queue); !valid) {
        report.errors.emplace_back(queue, valid.error().message());
        continue;
      }
      checked.push_back(queue);
      if (!is_dead_letter_queue(queue))
        checked.push_back(config::dead_letter_queue_name(queue));
    }
    auto done = state_->calls->call([&](RabbitMqWorker& worker) {
      auto session = worker.session();
      for (const auto& queue : checked) {
        if (!session) {
          report.errors.emplace_back(queue, session.error().message());
          continue;
        }
        auto found = (*session)->inspect_queue(queue);
        if (!found) {
          report.errors.emplace_back(queue, found.error().message());
        } else if (found->has_value()) {
          report.healthy.push_back(queue);
          std::lock_guard<std::mutex> guard{state_->shared->mutex};
          state_->shared->known_queues.insert(queue);
        } else {
          report.missing.push_back(queue);
        }
      }
      return core::Result<void>{};
    });
    if (!done)
      return done.error();
    return report;
  });
}

// -- messages -----------------------------------------------------------------

core::Result<int64_t> RabbitMqProvider::send(const std::string& queue,
                                             const OutgoingMessage& message) {
  return guarded("send", queue, [&]() -> core::Result<int64_t> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (auto fits
        = check_size(queue, message, state_->options().max_message_size);
        !fits)
      return fits.error();
    return state_->calls->call([&](RabbitMqWorker& worker) {
      using R = core::Result<int64_t>;
      if (message.delay.count() > 0) {
        // A delayed message is routed when its delay ends: check now.
        if (auto found = ready_count(worker, queue); !found)
          return R{found.error()};
      }
      std::vector<Timed> batch;
      batch.emplace_back(
          AmqpMessage{next_message_id(), message.payload, message.headers, 0},
          message.delay);
      if (auto sent = worker.publish(queue, batch); !sent)
        return R{sent.error()};
      return R{batch.front().first.id};
    });
  });
}

core::Result<std::vector<int64_t>>
RabbitMqProvider::send_batch(const std::string& queue,
                             const std::vector<OutgoingMessage>& messages) {
  using Ids = std::vector<int64_t>;
  return guarded("send_batch", queue, [&]() -> core::Result<Ids> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (messages.empty())
      return Error{ErrorCode::invalid_argument,
                   "send_batch on queue '" + queue + "': the batch is empty"};
    for (const auto& message : messages) {
      if (auto fits
          = check_size(queue, message, state_->options().max_message_size);
          !fits)
        return fits.error();
    }
    return state_->calls->call([&](RabbitMqWorker& worker) {
      using R = core::Result<Ids>;
      // A delayed message is routed when its delay ends: check now, so that
      // a missing queue takes none of the batch. The others are published
      // mandatory, and a missing queue returns every one of them (a round
      // trip less before each batch).
      bool delayed
          = std::any_of(messages.begin(), messages.end(), [](const auto& m) {
              return m.delay.count() > 0;
            });
      if (delayed)
        if (auto found = ready_count(worker, queue); !found)
          return R{found.error()};
      std::vector<Timed> batch;
      Ids ids;
      for (const auto& message : messages) {
        batch.emplace_back(
            AmqpMessage{next_message_id(), message.payload, message.headers, 0},
            message.delay);
        ids.push_back(batch.back().first.id);
      }
      if (auto sent = worker.publish(queue, batch); !sent)
        return R{sent.error()};
      return R{std::move(ids)};
    });
  });
}

core::Result<std::vector<QueuedMessage>>
RabbitMqProvider::receive(const std::string& queue, int32_t limit,
                          std::chrono::seconds visibility_timeout) {
  using Messages = std::vector<QueuedMessage>;
  return guarded("receive", queue, [&]() -> core::Result<Messages> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    if (limit < 1)
      return Error{ErrorCode::invalid_argument,
                   "receive on queue '" + queue + "': limit "
                       + std::to_string(limit) + " is less than 1"};
    if (auto ok = check_timeout(queue, "receive", visibility_timeout); !ok)
      return ok.error();
    return state_->calls->call([&](RabbitMqWorker& worker) {
      return worker.receive(queue, limit, visibility_timeout);
    });
  });
}

core::Result<std::optional<QueuedMessage>>
RabbitMqProvider::read_by_id(const std::string& queue, int64_t id,
                             std::chrono::seconds visibility_timeout) {
  if (auto valid = config::validate_queue_name(queue); !valid)
    return valid.error();
  return Error{ErrorCode::unsupported,
               "read_by_id on queue '" + queue + "' (message "
                   + std::to_string(id)
                   + "): RabbitMQ delivers from the head of a queue only"};
}

core::Result<void> RabbitMqProvider::ack(const std::string& queue, int64_t id) {
  return guarded("ack", queue, [&]() -> core::Result<void> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    return state_->on_owner(queue, id, [queue, id](RabbitMqWorker& worker) {
      return worker.ack(queue, {id}, /*strict*/ true);
    });
  });
}

core::Result<void>
RabbitMqProvider::ack_batch(const std::string& queue,
                            const std::vector<int64_t>& ids) {
  return guarded("ack_batch", queue, [&]() -> core::Result<void> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    std::map<std::shared_ptr<RabbitMqWorker>, std::vector<int64_t>> by_owner;
    for (auto id : ids) {
      if (auto owner = state_->owner_of(queue, id))
        by_owner[owner].push_back(id);
    }
    for (auto& [owner, owned] : by_owner) {
      auto acked = State::run_on(owner, [queue, owned](RabbitMqWorker& worker) {
        return worker.ack(queue, owned, /*strict*/ false);
      });
      if (!acked)
        return acked;
    }
    return core::Result<void>{};
  });
}

core::Result<void> RabbitMqProvider::nack(const std::string& queue, int64_t id,
                                          const NackAction& action) {
  return guarded("nack", queue, [&]() -> core::Result<void> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    if (action.kind == NackAction::Kind::dead_letter
        && is_dead_letter_queue(queue))
      return Error{ErrorCode::invalid_argument,
                   "nack on queue '" + queue
                       + "': a dead-letter queue has no dead-letter queue"};
    if (action.delay.count() < 0)
      return Error{ErrorCode::invalid_argument,
                   "nack on queue '" + queue + "': negative delay"};
    return state_->on_owner(queue, id,
                            [queue, id, action](RabbitMqWorker& worker) {
                              return worker.nack(queue, id, action);
                            });
  });
}

core::Result<void>
RabbitMqProvider::extend_visibility(const std::string& queue, int64_t id,
                                    std::chrono::seconds timeout) {
  return guarded("extend_visibility", queue, [&]() -> core::Result<void> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid;
    if (auto ok = check_timeout(queue, "extend_visibility", timeout); !ok)
      return ok;
    return state_->on_owner(queue, id,
                            [queue, id, timeout](RabbitMqWorker& worker) {
                              return worker.extend(queue, id, timeout);
                            });
  });
}

core::Result<QueueMetrics> RabbitMqProvider::metrics(const std::string& queue) {
  return guarded("metrics", queue, [&]() -> core::Result<QueueMetrics> {
    if (auto valid = config::validate_queue_name(queue); !valid)
      return valid.error();
    auto delays = state_->delays_of(queue);
    int64_t leased = 0;
    {
      std::lock_guard<std::mutex> guard{state_->shared->mutex};
      auto& owners = state_->shared->lease_owners;
      for (auto it = owners.lower_bound({queue, INT64_MIN});
           it != owners.end() && it->first.first == queue; ++it)
        ++leased;
    }
    return state_->calls->call([&](RabbitMqWorker& worker) {
      using R = core::Result<QueueMetrics>;
      auto session = worker.session();
      if (!session)
        return R{session.error()};
      auto ready = (*session)->inspect_queue(queue);
      if (!ready)
        return R{ready.error()};
      if (!ready->has_value())
        return R{queue_not_found(queue)};
      QueueMetrics out;
      out.queue = queue;
      out.visible_depth = **ready;
      out.depth = **ready + leased;
      for (auto delay : delays) {
        auto waiting = (*session)->inspect_queue(
            delay_queue_name(queue, std::chrono::milliseconds{delay}));
        if (!waiting)
          return R{waiting.error()};
        if (waiting->has_value()) {
          out.depth += **waiting;
        } else {
          std::lock_guard<std::mutex> guard{state_->shared->mutex};
          state_->shared->delays[queue].erase(delay);
        }
      }
      return R{std::move(out)};
    });
  });
}

// -- push ---------------------------------------------------------------------

core::Result<Subscription>
RabbitMqProvider::subscribe(const std::string& queue,
                            NotificationHandler handler) {
  return subscribe_many({queue}, std::move(handler));
}

core::Result<Subscription>
RabbitMqProvider::subscribe_many(const std::vector<std::string>& queues,
                                 NotificationHandler handler) {
  auto first = queues.empty() ? std::string{} : queues.front();
  return guarded("subscribe", first, [&]() -> core::Result<Subscription> {
    if (queues.empty())
      return Error{ErrorCode::invalid_argument,
                   "subscribe_many: no queue to subscribe to"};
    std::string names;
    for (const auto& queue : queues) {
      if (auto valid = config::validate_queue_name(queue); !valid)
        return valid.error();
      names += (names.empty() ? "'" : ", '") + queue + "'";
    }
    auto present = state_->calls->call([&](RabbitMqWorker& worker) {
      for (const auto& queue : queues)
        if (auto found = ready_count(worker, queue); !found)
          return core::Result<void>{found.error()};
      return core::Result<void>{};
    });
    if (!present)
      return present.error();
    for (const auto& queue : queues)
      state_->remember(queue, /*declared*/ false);
    auto consumer = std::make_shared<RabbitMqWorker>(
        state_->shared, "consumer of " + names,
        RabbitMqWorker::Consumer{queues, std::move(handler)});
    if (auto started = consumer->start(1); !started)
      return started.error();
    return Subscription{[consumer] {
      consumer->stop();
    }};
  });
}

} // namespace tasker::messaging
