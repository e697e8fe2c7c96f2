// What the RabbitMQ provider does beyond the shared conformance suite, on a
// real broker: declaration conflicts, a broker restart under a consumer,
// messages of plain AMQP clients, dead-letter queues seen from outside,
// delays and publisher confirms. The broker is the private one of
// scripts/test-servers.sh: its node name and files come from
// TASKER_TEST_SRV_RMQ_* (env.sh), which the restart uses.

#include "core/logger.hpp"
#include "messaging/rabbitmq/rabbitmq_provider.hpp"
#include "messaging/subscription.hpp"
#include "tests/integration/test_servers.hpp"

#include <doctest/doctest.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace tasker::messaging;
using tasker::core::ErrorCode;
using tasker::testing::rabbitmq_url;
using tasker::testing::unique_name;
using SteadyClock = std::chrono::steady_clock;

std::string text(amqp_bytes_t bytes) {
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}

amqp_bytes_t bytes(const std::string& s) {
  return {s.size(), const_cast<char*>(s.data())};
}

// A plain rabbitmq-c client, without the provider.
class PlainClient {
 public:
  PlainClient() : conn_(amqp_new_connection()) {
    auto url = rabbitmq_url();
    std::vector<char> buf(url.begin(), url.end());
    buf.push_back('\0');
    amqp_connection_info info;
    amqp_default_connection_info(&info);
    REQUIRE(amqp_parse_url(buf.data(), &info) == AMQP_STATUS_OK);
    auto* socket = amqp_tcp_socket_new(conn_);
    REQUIRE(amqp_socket_open(socket, info.host, info.port) == AMQP_STATUS_OK);
    auto login = amqp_login(conn_, info.vhost, 0, 131072, 0,
                            AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    REQUIRE(login.reply_type == AMQP_RESPONSE_NORMAL);
    amqp_channel_open(conn_, 1);
    require_ok("channel.open");
  }

  ~PlainClient() {
    amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }

  PlainClient(const PlainClient&) = delete;
  PlainClient& operator=(const PlainClient&) = delete;

  // A durable classic queue; with a maximum length it refuses publishes
  // beyond it (x-overflow reject-publish).
  void declare_classic(const std::string& queue,
                       std::optional<int64_t> max_length = std::nullopt) {
    amqp_table_entry_t entries[2]{};
    entries[0].key = amqp_cstring_bytes("x-max-length");
    entries[0].value.kind = AMQP_FIELD_KIND_I64;
    entries[0].value.value.i64 = max_length.value_or(0);
    entries[1].key = amqp_cstring_bytes("x-overflow");
    entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
    amqp_table_t table{max_length ? 2 : 0, entries};
    amqp_queue_declare(conn_, 1, bytes(queue), 0, 1, 0, 0, table);
    require_ok("queue.declare");
  }

  // Publishes without message_id or app_id, with one text and one integer
  // header, to a queue through the default exchange or to an exchange with
  // a routing key.
  void publish(const std::string& routing_key, const std::string& body,
               const std::string& exchange = {}) {
    amqp_table_entry_t headers[2]{};
    headers[0].key = amqp_cstring_bytes("source");
    headers[0].value.kind = AMQP_FIELD_KIND_UTF8;
    headers[0].value.value.bytes = amqp_cstring_bytes("plain");
    headers[1].key = amqp_cstring_bytes("attempt");
    headers[1].value.kind = AMQP_FIELD_KIND_I32;
    headers[1].value.value.i32 = 7;
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.headers = {2, headers};
    props.delivery_mode = 2;
    REQUIRE(amqp_basic_publish(conn_, 1, bytes(exchange), bytes(routing_key), 0,
                               0, &props, bytes(body))
            == AMQP_STATUS_OK);
  }

  void delete_exchange(const std::string& exchange) {
    amqp_exchange_delete(conn_, 1, bytes(exchange), 0);
    require_ok("exchange.delete");
  }

  struct Got {
    std::string body;
    std::map<std::string, std::string> headers;
  };

  // basic.get with auto-ack; text headers only.
  std::optional<Got> get(const std::string& queue) {
    auto reply = amqp_basic_get(conn_, 1, bytes(queue), 1);
    REQUIRE(reply.reply_type == AMQP_RESPONSE_NORMAL);
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD)
      return std::nullopt;
    amqp_message_t message;
    REQUIRE(amqp_read_message(conn_, 1, &message, 0).reply_type
            == AMQP_RESPONSE_NORMAL);
    Got got{text(message.body), {}};
    if (message.properties._flags & AMQP_BASIC_HEADERS_FLAG) {
      const auto& table = message.properties.headers;
      for (int i = 0; i < table.num_entries; ++i) {
        if (table.entries[i].value.kind == AMQP_FIELD_KIND_UTF8)
          got.headers[text(table.entries[i].key)]
              = text(table.entries[i].value.value.bytes);
      }
    }
    amqp_destroy_message(&message);
    return got;
  }

  // Ready messages of an existing queue (passive declare).
  uint32_t ready(const std::string& queue) {
    auto* ok = amqp_queue_declare(conn_, 1, bytes(queue), 1, 0, 0, 0,
                                  amqp_empty_table);
    require_ok("queue.declare (passive)");
    return ok->message_count;
  }

 private:
  void require_ok(const char* what) {
    auto reply = amqp_get_rpc_reply(conn_);
    REQUIRE_MESSAGE(reply.reply_type == AMQP_RESPONSE_NORMAL,
                    what << " failed");
  }

  amqp_connection_state_t conn_;
};

RabbitMqOptions test_options() {
  RabbitMqOptions options;
  options.url = rabbitmq_url();
  options.max_deliveries = 3;
  options.heartbeat = 5s;
  options.reconnect_initial_backoff = 100ms;
  options.reconnect_max_backoff = 1000ms;
  return options;
}

RabbitMqProvider connect(RabbitMqOptions options = test_options()) {
  auto provider = RabbitMqProvider::connect(std::move(options));
  REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
  return std::move(*provider);
}

// Captures the log lines at warn and above while alive.
class LogCapture {
 public:
  LogCapture() {
    tasker::core::Logger::set_sink([this](tasker::core::LogLevel level,
                                          std::string_view component,
                                          std::string_view message) {
      if (level < tasker::core::LogLevel::warn)
        return;
      std::lock_guard<std::mutex> guard{mutex_};
      lines_.push_back(std::string{component} + ": " + std::string{message});
    });
  }

  ~LogCapture() {
    tasker::core::Logger::set_sink({});
  }

  // The first line containing both texts.
  std::optional<std::string> find(const std::string& a, const std::string& b) {
    std::lock_guard<std::mutex> guard{mutex_};
    for (const auto& line : lines_) {
      if (line.find(a) != std::string::npos
          && line.find(b) != std::string::npos)
        return line;
    }
    return std::nullopt;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// Deletes the queue (and its DLQ, exchange, delay queues) when done.
struct QueueGuard {
  RabbitMqProvider& provider;
  std::string name;

  ~QueueGuard() {
    (void)provider.delete_queue(name);
  }
};

// The messages a subscription pushes, in order, collected on its thread.
class PushedMessages {
 public:
  PushedMessages(RabbitMqProvider& provider, const std::string& queue) {
    auto subscribed = provider.subscribe(queue, [this](MessageNotification n) {
      if (auto m = std::get_if<Message>(&n)) {
        std::lock_guard<std::mutex> lock{mutex_};
        got_.push_back(std::move(m->message));
      }
    });
    REQUIRE_MESSAGE(subscribed.ok(), subscribed.error().to_string());
    subscription_ = std::move(*subscribed);
  }

  /// The `n`th message pushed (from 1), if it came.
  std::optional<QueuedMessage> nth(std::size_t n) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (got_.size() < n)
      return std::nullopt;
    return got_[n - 1];
  }

  void cancel() {
    subscription_.cancel();
  }

 private:
  std::mutex mutex_;
  std::vector<QueuedMessage> got_;
  // Last: cancelled (waiting for the handler) before the rest goes.
  Subscription subscription_;
};

template <class F>
bool wait_until(F condition, SteadyClock::duration limit) {
  auto deadline = SteadyClock::now() + limit;
  while (!condition()) {
    if (SteadyClock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

} // namespace

TEST_SUITE("rabbitmq_provider") {

  TEST_CASE("a queue that exists with other properties is a declaration "
            "conflict naming the queue and the property") {
    auto provider = connect();
    auto q = unique_name("r_conflict");
    PlainClient client;
    client.declare_classic(q);
    QueueGuard guard{provider, q};

    auto failed = provider.create_queue(q);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code() == ErrorCode::declaration_conflict);
    CHECK(failed.error().message().find(q) != std::string::npos);
    CHECK(failed.error().message().find("another 'x-") != std::string::npos);
    MESSAGE(failed.error().message());

    SUBCASE("the warn policy logs it and uses the queue as it is") {
      auto options = test_options();
      options.declaration_conflict_policy = DeclarationConflictPolicy::warn;
      auto lenient = connect(options);
      LogCapture log;
      REQUIRE(lenient.create_queue(q).ok());
      CHECK(log.find(q, "using it as it is"));
      auto id = lenient.send(q, {"{\"n\":1}", {}, {}});
      REQUIRE(id.ok());
      auto got = lenient.receive(q, 1, 30s);
      REQUIRE(got.ok());
      REQUIRE(got->size() == 1);
      CHECK(got->front().id == *id);
      CHECK(lenient.ack(q, *id).ok());
    }
  }

  TEST_CASE("a broker restart in the middle of a consume loop loses no "
            "message") {
    auto provider = connect();
    auto q = unique_name("r_restart");
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};
    LogCapture log;

    std::mutex mutex;
    std::set<std::string> seen;
    std::atomic<int> gaps{0};
    auto handler = [&](MessageNotification n) {
      if (auto available = std::get_if<Available>(&n)) {
        if (available->queue == q && !available->msg_id)
          ++gaps;
        return;
      }
      auto& m = std::get<Message>(n).message;
      // A slow handler keeps deliveries in flight across the restart.
      std::this_thread::sleep_for(5ms);
      if (provider.ack(q, m.id).ok()) {
        std::lock_guard<std::mutex> lock{mutex};
        seen.insert(m.payload);
      }
    };
    auto sub = provider.subscribe(q, handler);
    REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());

    constexpr int before = 300;
    constexpr int after = 50;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < before; ++i)
      batch.push_back({std::to_string(i), {}, {}});
    REQUIRE(provider.send_batch(q, batch).ok());
    REQUIRE(wait_until(
        [&] {
          std::lock_guard<std::mutex> lock{mutex};
          return seen.size() >= 20;
        },
        10s));

    {
      std::lock_guard<std::mutex> lock{mutex};
      MESSAGE("restarting the broker after " << seen.size() << " of " << before
                                             << " messages");
    }
    REQUIRE(tasker::testing::rabbitmqctl("stop_app") == 0);
    REQUIRE(tasker::testing::rabbitmqctl("start_app") == 0);

    for (int i = before; i < before + after; ++i) {
      bool sent = wait_until(
          [&] {
            return provider.send(q, {std::to_string(i), {}, {}}).ok();
          },
          30s);
      REQUIRE_MESSAGE(sent,
                      "send " << i << " never succeeded after the restart");
    }
    bool all = wait_until(
        [&] {
          std::lock_guard<std::mutex> lock{mutex};
          return seen.size() == before + after;
        },
        60s);
    {
      std::lock_guard<std::mutex> lock{mutex};
      CHECK_MESSAGE(all,
                    "consumed " << seen.size() << " of " << before + after);
    }
    CHECK(gaps >= 1);
    auto gap = log.find("consumer of '" + q + "'", "reconnected after");
    REQUIRE(gap.has_value());
    MESSAGE(*gap);
  }

  TEST_CASE("a message published by a plain AMQP client is pushed and acked") {
    auto provider = connect();
    auto q = unique_name("r_plain");
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};

    PushedMessages pushed{provider, q};
    PlainClient client;
    client.publish(q, "from elsewhere");
    REQUIRE(wait_until(
        [&] {
          return pushed.nth(1).has_value();
        },
        5s));
    pushed.cancel();
    auto m = *pushed.nth(1);
    CHECK(m.payload == "from elsewhere");
    CHECK(m.leased);
    CHECK(m.delivery_count == 1);
    CHECK(m.id > 0);
    CHECK(m.headers.at("source") == "plain");
    CHECK(m.headers.at("attempt") == "7");
    CHECK_FALSE(m.headers.contains("x-delivery-count"));
    // Cancelling returned the unacked message: take it again and ack it.
    auto again = provider.receive(q, 1, 30s);
    REQUIRE(again.ok());
    REQUIRE(again->size() == 1);
    CHECK(again->front().payload == "from elsewhere");
    CHECK(again->front().delivery_count == 2);
    REQUIRE(provider.ack(q, again->front().id).ok());
    CHECK(client.ready(q) == 0);
    CHECK(provider.metrics(q)->depth == 0);
  }

  TEST_CASE("an unacked pushed message is delivered again when its lease "
            "ends, unless extended") {
    auto options = test_options();
    options.push_visibility_timeout = 1s;
    auto provider = connect(options);
    auto q = unique_name("r_lease");
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};

    std::mutex mutex;
    std::vector<std::pair<QueuedMessage, SteadyClock::time_point>> got;
    auto sub = provider.subscribe(q, [&](MessageNotification n) {
      if (auto m = std::get_if<Message>(&n)) {
        std::lock_guard<std::mutex> lock{mutex};
        got.emplace_back(m->message, SteadyClock::now());
      }
    });
    REQUIRE(sub.ok());
    auto count = [&] {
      std::lock_guard<std::mutex> lock{mutex};
      return got.size();
    };
    auto id = provider.send(q, {"slow", {}, {}});
    REQUIRE(id.ok());
    REQUIRE(wait_until(
        [&] {
          return count() >= 1;
        },
        5s));
    REQUIRE(wait_until(
        [&] {
          return count() >= 2;
        },
        5s));
    {
      std::lock_guard<std::mutex> lock{mutex};
      CHECK(got[0].first.id == *id);
      CHECK(got[1].first.id == *id);
      CHECK(got[0].first.delivery_count == 1);
      CHECK(got[1].first.delivery_count == 2);
      CHECK(got[1].second - got[0].second >= 900ms);
      CHECK(got[1].second - got[0].second < 2s);
    }
    REQUIRE(provider.extend_visibility(q, *id, 3s).ok());
    std::this_thread::sleep_for(1500ms);
    CHECK(count() == 2);
    CHECK(provider.ack(q, *id).ok());
  }

  TEST_CASE("on a classic queue every return of a pushed message counts, up "
            "to the dead-letter queue") {
    auto options = test_options();
    options.queue_type = QueueType::classic;
    auto provider = connect(options);
    auto q = unique_name("r_classic");
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};
    // Declared classic: a quorum declaration of it conflicts.
    auto quorum = connect().create_queue(q);
    REQUIRE_FALSE(quorum.ok());
    CHECK(quorum.error().message().find("x-queue-type") != std::string::npos);

    PushedMessages pushed{provider, q};
    auto id = provider.send(q, {"poison", {}, {}});
    REQUIRE(id.ok());
    for (int delivery = 1; delivery <= 3; ++delivery) {
      REQUIRE(wait_until(
          [&] {
            return pushed.nth(delivery).has_value();
          },
          5s));
      auto message = *pushed.nth(delivery);
      CHECK(message.id == *id);
      CHECK(message.payload == "poison");
      CHECK(message.delivery_count == delivery);
      REQUIRE(provider.nack(q, *id, NackAction::requeue()).ok());
    }
    auto dlq = q + "_dlq";
    std::vector<QueuedMessage> dead;
    REQUIRE(wait_until(
        [&] {
          auto batch = provider.receive(dlq, 1, 30s);
          if (batch.ok() && !batch->empty())
            dead = std::move(*batch);
          return !dead.empty();
        },
        5s));
    CHECK(dead.front().headers.at("x-dead-letter-reason")
          == "max_deliveries_exceeded");
    CHECK(dead.front().headers.at("x-original-id") == std::to_string(*id));
    CHECK_FALSE(pushed.nth(4).has_value());
  }

  TEST_CASE("a topic exchange routes a publisher's routing keys to the bound "
            "queue") {
    auto options = test_options();
    options.topic_exchange = unique_name("r_topic");
    auto ns = unique_name("ns");
    auto q = ns + "_queue";
    options.topic_bindings.push_back({ns + ".*", q});
    auto provider = connect(options);
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};
    PlainClient client;
    client.publish(ns + ".order_created", "routed", options.topic_exchange);
    client.publish("other.order_created", "dropped", options.topic_exchange);
    std::vector<QueuedMessage> got;
    wait_until(
        [&] {
          auto batch = provider.receive(q, 10, 30s);
          REQUIRE(batch.ok());
          got.insert(got.end(), batch->begin(), batch->end());
          return !got.empty();
        },
        5s);
    REQUIRE(got.size() == 1);
    CHECK(got.front().payload == "routed");
    CHECK(provider.ack(q, got.front().id).ok());
    client.delete_exchange(options.topic_exchange);
  }

  TEST_CASE("dead-lettered messages are visible in the queue's _dlq to any "
            "AMQP client") {
    auto provider = connect();
    auto q = unique_name("r_dead");
    auto dlq = q + "_dlq";
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};

    auto rejected = provider.send(q, {"rejected", {{"trace", "t1"}}, {}});
    REQUIRE(rejected.ok());
    REQUIRE(provider.receive(q, 1, 30s)->size() == 1);
    REQUIRE(provider.nack(q, *rejected, NackAction::dead_letter("boom")).ok());

    auto poison = provider.send(q, {"poison", {}, {}});
    REQUIRE(poison.ok());
    for (int delivery = 1; delivery <= 3; ++delivery)
      REQUIRE(provider.receive(q, 1, 0s)->size() == 1);
    CHECK(provider.receive(q, 1, 0s)->empty());

    PlainClient client;
    CHECK(client.ready(q) == 0);
    CHECK(client.ready(dlq) == 2);
    auto first = client.get(dlq);
    REQUIRE(first.has_value());
    CHECK(first->body == "rejected");
    CHECK(first->headers["trace"] == "t1");
    CHECK(first->headers["x-dead-letter-reason"] == "boom");
    CHECK(first->headers["x-original-queue"] == q);
    CHECK(first->headers["x-original-id"] == std::to_string(*rejected));
    auto second = client.get(dlq);
    REQUIRE(second.has_value());
    CHECK(second->body == "poison");
    CHECK(second->headers["x-dead-letter-reason"] == "max_deliveries_exceeded");
    CHECK(second->headers["x-original-id"] == std::to_string(*poison));
  }

  TEST_CASE("a delayed send becomes visible within a second of its delay") {
    auto provider = connect();
    auto q = unique_name("r_delay");
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};

    auto start = SteadyClock::now();
    auto id = provider.send(q, {"later", {}, 2000ms});
    REQUIRE(id.ok());
    CHECK(provider.metrics(q)->depth == 1);
    CHECK(provider.metrics(q)->visible_depth == 0);
    std::optional<SteadyClock::duration> seen_after;
    wait_until(
        [&] {
          auto got = provider.receive(q, 1, 30s);
          REQUIRE(got.ok());
          if (got->empty())
            return false;
          seen_after = SteadyClock::now() - start;
          CHECK(got->front().id == *id);
          CHECK(got->front().delivery_count == 1);
          CHECK(provider.ack(q, *id).ok());
          return true;
        },
        10s);
    REQUIRE(seen_after.has_value());
    auto ms
        = std::chrono::duration_cast<std::chrono::milliseconds>(*seen_after);
    MESSAGE("visible after " << ms.count() << " ms");
    CHECK(ms >= 2000ms);
    CHECK(ms < 3000ms);
  }

  TEST_CASE("send returns only after the broker confirmed the message") {
    auto provider = connect();
    auto q = unique_name("r_confirm");
    REQUIRE(provider.create_queue(q).ok());
    QueueGuard guard{provider, q};
    PlainClient client;
    for (int i = 1; i <= 5; ++i) {
      REQUIRE(provider.send(q, {"m", {}, {}}).ok());
      CHECK(client.ready(q) == static_cast<uint32_t>(i));
    }

    SUBCASE("a message the broker refuses is an error naming the queue") {
      auto full = unique_name("r_full");
      client.declare_classic(full, 1);
      auto options = test_options();
      options.declaration_conflict_policy = DeclarationConflictPolicy::warn;
      auto lenient = connect(options);
      REQUIRE(lenient.create_queue(full).ok());
      QueueGuard full_guard{lenient, full};
      REQUIRE(lenient.send(full, {"1", {}, {}}).ok());
      auto refused = lenient.send(full, {"2", {}, {}});
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code() == ErrorCode::backend_error);
      CHECK(refused.error().message().find(full) != std::string::npos);
    }
  }

} // TEST_SUITE
