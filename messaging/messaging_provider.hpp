#pragma once

#include "config/node_config.hpp"
#include "messaging/in_memory/in_memory_provider.hpp"
#include "messaging/messaging_service.hpp"
#include "messaging/pgmq/pgmq_provider.hpp"
#include "messaging/rabbitmq/rabbitmq_provider.hpp"

#include <algorithm>
#include <utility>
#include <variant>

namespace tasker::messaging {

/// One of the concrete providers, chosen at run time from configuration:
/// the seed's "enum dispatch". Every operation goes through `visit`, the
/// single dispatch point, so adding a provider means adding one alternative
/// to `Variant`. A cheap handle: copies share the provider.
class MessagingProvider {
 public:
  using Variant
      = std::variant<InMemoryProvider, PgmqProvider, RabbitMqProvider>;

  template <class Provider>
  requires MessagingService<Provider>
  explicit MessagingProvider(Provider provider) : impl_(std::move(provider)) {}

  /// Builds the provider `config.messaging_backend` names (connecting to
  /// its server with bounded retries).
  static core::Result<MessagingProvider>
  from_config(const config::NodeConfig& config);

  /// Calls `f` with the concrete provider.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), impl_);
  }

  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), impl_);
  }

  // -- queue lifecycle --

  core::Result<void> create_queue(const std::string& queue) {
    return visit([&](auto& p) {
      return p.create_queue(queue);
    });
  }

  core::Result<void> delete_queue(const std::string& queue) {
    return visit([&](auto& p) {
      return p.delete_queue(queue);
    });
  }

  core::Result<bool> queue_exists(const std::string& queue) {
    return visit([&](auto& p) {
      return p.queue_exists(queue);
    });
  }

  core::Result<std::vector<std::string>> list_queues() {
    return visit([&](auto& p) {
      return p.list_queues();
    });
  }

  core::Result<void> ensure_queues(const std::vector<std::string>& queues) {
    return visit([&](auto& p) {
      return p.ensure_queues(queues);
    });
  }

  core::Result<QueueHealthReport>
  verify_queues(const std::vector<std::string>& queues) {
    return visit([&](auto& p) {
      return p.verify_queues(queues);
    });
  }

  // -- messages --

  core::Result<int64_t> send(const std::string& queue,
                             const OutgoingMessage& message) {
    return visit([&](auto& p) {
      return p.send(queue, message);
    });
  }

  /// Sends `message` to `queue`, then acks message `acked_id` of
  /// `acked_queue` (a reply that settles what it answers): in one
  /// transaction when the provider can (PGMQ), else one call after the
  /// other. Fails when the send failed, and then nothing was acked.
  core::Result<SentAndAcked> send_and_ack(const std::string& queue,
                                          const OutgoingMessage& message,
                                          const std::string& acked_queue,
                                          int64_t acked_id) {
    return visit([&](auto& p) -> core::Result<SentAndAcked> {
      if constexpr (requires {
                      p.send_and_ack(queue, message, acked_queue, acked_id);
                    }) {
        auto sent = p.send_and_ack(queue, message, acked_queue, acked_id);
        if (!sent)
          return sent.error();
        return SentAndAcked{*sent, {}};
      } else {
        auto sent = p.send(queue, message);
        if (!sent)
          return sent.error();
        return SentAndAcked{*sent, p.ack(acked_queue, acked_id)};
      }
    });
  }

  /// `send_and_ack` for several messages: sends `messages` to `queue` and
  /// acks messages `acked_ids` of `acked_queue`, in one transaction when
  /// the provider can (PGMQ), else a `send_batch` and then an `ack_batch`.
  /// Fails when the send failed, and then nothing was acked.
  core::Result<BatchSentAndAcked> send_and_ack_batch(
      const std::string& queue, const std::vector<OutgoingMessage>& messages,
      const std::string& acked_queue, const std::vector<int64_t>& acked_ids) {
    return visit([&](auto& p) -> core::Result<BatchSentAndAcked> {
      if constexpr (requires {
                      p.send_and_ack_batch(queue, messages, acked_queue,
                                           acked_ids);
                    }) {
        auto sent
            = p.send_and_ack_batch(queue, messages, acked_queue, acked_ids);
        if (!sent)
          return sent.error();
        return BatchSentAndAcked{std::move(*sent), {}};
      } else {
        auto sent = p.send_batch(queue, messages);
        if (!sent)
          return sent.error();
        return BatchSentAndAcked{std::move(*sent),
                                 p.ack_batch(acked_queue, acked_ids)};
      }
    });
  }

  core::Result<std::vector<int64_t>>
  send_batch(const std::string& queue,
             const std::vector<OutgoingMessage>& messages) {
    return visit([&](auto& p) {
      return p.send_batch(queue, messages);
    });
  }

  core::Result<std::vector<QueuedMessage>>
  receive(const std::string& queue, int32_t limit,
          std::chrono::seconds visibility_timeout) {
    return visit([&](auto& p) {
      return p.receive(queue, limit, visibility_timeout);
    });
  }

  core::Result<std::optional<QueuedMessage>>
  read_by_id(const std::string& queue, int64_t id,
             std::chrono::seconds visibility_timeout) {
    return visit([&](auto& p) {
      return p.read_by_id(queue, id, visibility_timeout);
    });
  }

  /// Claims those of `ids` that are visible, in id order; the others (gone,
  /// leased) are skipped. One call where the provider claims a batch by id,
  /// else one `read_by_id` each, stopping at the first failure: its error
  /// when nothing was claimed, else what was.
  core::Result<std::vector<QueuedMessage>>
  read_by_ids(const std::string& queue, const std::vector<int64_t>& ids,
              std::chrono::seconds visibility_timeout) {
    return visit([&](auto& p) -> core::Result<std::vector<QueuedMessage>> {
      if constexpr (requires { p.read_by_ids(queue, ids, visibility_timeout); })
        return p.read_by_ids(queue, ids, visibility_timeout);
      else {
        std::vector<int64_t> sorted = ids;
        std::sort(sorted.begin(), sorted.end());
        std::vector<QueuedMessage> out;
        for (auto id : sorted) {
          auto got = p.read_by_id(queue, id, visibility_timeout);
          if (!got) {
            if (out.empty())
              return got.error();
            break;
          }
          if (*got)
            out.push_back(std::move(**got));
        }
        return out;
      }
    });
  }

  core::Result<void> ack(const std::string& queue, int64_t id) {
    return visit([&](auto& p) {
      return p.ack(queue, id);
    });
  }

  core::Result<void> ack_batch(const std::string& queue,
                               const std::vector<int64_t>& ids) {
    return visit([&](auto& p) {
      return p.ack_batch(queue, ids);
    });
  }

  core::Result<void> nack(const std::string& queue, int64_t id,
                          const NackAction& action) {
    return visit([&](auto& p) {
      return p.nack(queue, id, action);
    });
  }

  /// Moves a message nothing can process to its dead-letter queue, logging
  /// under `component` which message and why, and the move's failure if it
  /// fails (the message then comes back after its lease).
  void dead_letter_logged(std::string_view component, const std::string& queue,
                          int64_t id, const std::string& why);

  core::Result<void> extend_visibility(const std::string& queue, int64_t id,
                                       std::chrono::seconds timeout) {
    return visit([&](auto& p) {
      return p.extend_visibility(queue, id, timeout);
    });
  }

  core::Result<QueueMetrics> metrics(const std::string& queue) {
    return visit([&](auto& p) {
      return p.metrics(queue);
    });
  }

  // -- push --

  core::Result<Subscription> subscribe(const std::string& queue,
                                       NotificationHandler handler) {
    return visit([&](auto& p) {
      return p.subscribe(queue, std::move(handler));
    });
  }

  core::Result<Subscription>
  subscribe_many(const std::vector<std::string>& queues,
                 NotificationHandler handler) {
    return visit([&](auto& p) {
      return p.subscribe_many(queues, std::move(handler));
    });
  }

  // -- about --

  std::string_view provider_name() const {
    return visit([](auto& p) {
      return p.provider_name();
    });
  }

  ProviderCapabilities capabilities() const {
    return visit([](auto& p) {
      return p.capabilities();
    });
  }

 private:
  Variant impl_;
};

static_assert(MessagingService<MessagingProvider>);

} // namespace tasker::messaging
