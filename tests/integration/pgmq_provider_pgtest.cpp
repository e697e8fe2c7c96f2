// What only the PGMQ provider does, against a real PostgreSQL: NOTIFY in
// the send statement, the listener (held-back delayed notifications,
// reconnects, bad payloads, cancel), the connection pool after terminated
// backends, and interplay with the PGMQ SQL API. The shared behaviour is
// checked by the conformance suite (pgmq_conformance_pgtest.cpp).
#include <doctest/doctest.h>

#include "core/logger.hpp"
#include "messaging/pgmq/pg_errors.hpp"
#include "messaging/pgmq/pgmq_listener.hpp"
#include "messaging/pgmq/pgmq_provider.hpp"
#include "tests/integration/pg_admin.hpp"
#include "tests/integration/test_servers.hpp"
#include "tests/support/eventually.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

using namespace std::chrono_literals;
using namespace tasker::messaging;
using tasker::core::ErrorCode;
using tasker::testing::admin_exec;
using tasker::testing::backends_of;
using tasker::testing::database_url;
using tasker::testing::terminate_backends_of;
using tasker::testing::unique_name;
using tasker::testing::with_application_name;

namespace {

using SteadyClock = std::chrono::steady_clock;

// Notifications with their arrival times.
class Recorder {
 public:
  struct Entry {
    MessageNotification notification;
    SteadyClock::time_point at;
  };

  NotificationHandler handler() {
    return [this](MessageNotification n) {
      {
        std::lock_guard<std::mutex> guard{mutex_};
        entries_.push_back({std::move(n), SteadyClock::now()});
      }
      changed_.notify_all();
    };
  }

  // Waits until `count` notifications arrived; returns all of them.
  std::vector<Entry> wait_for(std::size_t count,
                              std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock{mutex_};
    changed_.wait_for(lock, timeout, [&] {
      return entries_.size() >= count;
    });
    return entries_;
  }

  std::size_t size() {
    std::lock_guard<std::mutex> guard{mutex_};
    return entries_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Entry> entries_;
};

// Log lines of one level, captured while alive.
class LogCapture {
 public:
  LogCapture() {
    tasker::core::Logger::set_sink([this](tasker::core::LogLevel level,
                                          std::string_view,
                                          std::string_view message) {
      std::lock_guard<std::mutex> guard{mutex_};
      if (level == tasker::core::LogLevel::warn)
        warnings_.emplace_back(message);
    });
  }

  ~LogCapture() {
    tasker::core::Logger::set_sink({});
  }

  std::vector<std::string> warnings() {
    std::lock_guard<std::mutex> guard{mutex_};
    return warnings_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> warnings_;
};

// A provider whose connections carry a unique application_name, so a test
// can find and terminate exactly its backends; its queues are dropped at
// the end.
struct Fixture {
  std::string app = unique_name("pgmqt");
  PgmqProvider provider;
  std::vector<std::string> queues;

  explicit Fixture(PgmqOptions options = {})
      : provider(connect(std::move(options), app)) {}

  ~Fixture() {
    for (const auto& q : queues)
      (void)provider.delete_queue(q);
  }

  static PgmqProvider connect(PgmqOptions options, const std::string& app) {
    options.url = with_application_name(database_url(), app);
    options.max_deliveries = 3;
    auto provider = PgmqProvider::connect(std::move(options));
    REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
    return std::move(*provider);
  }

  // A fresh queue; `suffix` "_queue" gives it a notify namespace (and
  // channel) of its own.
  std::string queue(const std::string& tag, const std::string& suffix = "") {
    auto name = unique_name(tag) + suffix;
    auto created = provider.create_queue(name);
    REQUIRE_MESSAGE(created.ok(), created.error().to_string());
    queues.push_back(name);
    return name;
  }

  std::vector<int> backends(const std::string& extra_condition = "true") {
    return backends_of(app, extra_condition);
  }

  // Terminates the provider's backends (pooled and listener) and waits for
  // them to be gone.
  void terminate(const std::string& extra_condition = "true") {
    terminate_backends_of(app, extra_condition);
  }
};

OutgoingMessage json_message(const nlohmann::json& body, Headers headers = {},
                             std::chrono::milliseconds delay = {}) {
  return {body.dump(), std::move(headers), delay};
}

// The `n` of a JSON payload.
int number_of(const std::string& payload) {
  return nlohmann::json::parse(payload).at("n").get<int>();
}

} // namespace

TEST_CASE("a small message is notified inline and a large one by id") {
  PgmqOptions options;
  options.inline_payload_limit = 100;
  Fixture f{options};
  auto q = f.queue("inl");
  Recorder recorder;
  auto sub = f.provider.subscribe(q, recorder.handler());
  REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());

  auto small_body = nlohmann::json{{"n", 1}, {"pad", std::string(83, 'a')}};
  auto big_body = nlohmann::json{{"n", 2}, {"pad", std::string(84, 'b')}};
  REQUIRE(small_body.dump().size() == 99);
  REQUIRE(big_body.dump().size() == 100);
  auto small = f.provider.send(q, json_message(small_body, {{"k", "v"}}));
  auto big = f.provider.send(q, json_message(big_body));
  REQUIRE(small.ok());
  REQUIRE(big.ok());

  auto got = recorder.wait_for(2);
  REQUIRE(got.size() == 2);
  auto* inline_message = std::get_if<Message>(&got[0].notification);
  REQUIRE(inline_message != nullptr);
  const auto& m = inline_message->message;
  CHECK(m.queue == q);
  CHECK(m.id == *small);
  CHECK_FALSE(m.leased);
  CHECK(m.delivery_count == 0);
  CHECK(nlohmann::json::parse(m.payload) == small_body);
  CHECK(m.headers == Headers{{"k", "v"}});
  CHECK(m.visible_at == m.enqueued_at);
  CHECK(m.enqueued_at > Clock::now() - 1min);
  auto* signal = std::get_if<Available>(&got[1].notification);
  REQUIRE(signal != nullptr);
  CHECK(signal->queue == q);
  CHECK(signal->msg_id == *big);
  // The inline notification did not claim the message.
  auto claimed = f.provider.read_by_id(q, *small, 30s);
  REQUIRE(claimed.ok());
  CHECK(claimed->has_value());
}

TEST_CASE("a reply is sent and notified and its request acked in one "
          "statement, or neither") {
  Fixture f;
  auto requests = f.queue("req");
  auto replies = f.queue("rep", "_queue");
  Recorder recorder;
  auto sub = f.provider.subscribe(replies, recorder.handler());
  REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());
  auto request = f.provider.send(requests, json_message({{"n", 1}}));
  REQUIRE(request.ok());
  REQUIRE(f.provider.read_by_id(requests, *request, 30s)->has_value());

  auto reply = f.provider.send_and_ack(replies, json_message({{"n", 2}}),
                                       requests, *request);
  REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
  auto got = recorder.wait_for(1);
  REQUIRE(got.size() == 1);
  auto* notified = std::get_if<Message>(&got[0].notification);
  REQUIRE(notified != nullptr);
  CHECK(notified->message.id == *reply);
  CHECK(number_of(notified->message.payload) == 2);
  CHECK(f.provider.metrics(requests)->depth == 0);
  CHECK(f.provider.metrics(replies)->depth == 1);

  // A reply that cannot be sent leaves its request where it is.
  auto second = f.provider.send(requests, json_message({{"n", 3}}));
  REQUIRE(second.ok());
  auto missing = unique_name("gone");
  auto refused = f.provider.send_and_ack(missing, json_message({{"n", 4}}),
                                         requests, *second);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find(missing) != std::string::npos);
  CHECK(f.provider.metrics(requests)->depth == 1);
  auto not_json
      = f.provider.send_and_ack(replies, {"{oops", {}, {}}, requests, *second);
  REQUIRE_FALSE(not_json.ok());
  CHECK(f.provider.metrics(requests)->depth == 1);
  CHECK(f.provider.metrics(replies)->depth == 1);
}

TEST_CASE("replies are sent and announced and their requests acked in one "
          "statement, or none of it") {
  Fixture f;
  auto requests = f.queue("breq");
  auto replies = f.queue("brep", "_queue");
  Recorder recorder;
  auto sub = f.provider.subscribe(replies, recorder.handler());
  REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());
  std::vector<int64_t> taken;
  for (int i = 0; i < 4; ++i) {
    auto id = f.provider.send(requests, json_message({{"n", i}}));
    REQUIRE(id.ok());
    taken.push_back(*id);
  }
  REQUIRE(f.provider.receive(requests, 4, 30s)->size() == 4);

  std::vector<OutgoingMessage> answers;
  for (int i = 0; i < 3; ++i)
    answers.push_back(json_message({{"n", 10 + i}}));
  std::vector<int64_t> answered{taken[0], taken[1], taken[2]};
  auto sent
      = f.provider.send_and_ack_batch(replies, answers, requests, answered);
  REQUIRE_MESSAGE(sent.ok(), sent.error().to_string());
  REQUIRE(sent->size() == 3);
  CHECK((*sent)[0] < (*sent)[1]);
  CHECK((*sent)[1] < (*sent)[2]);
  CHECK(f.provider.metrics(requests)->depth == 1);
  CHECK(f.provider.metrics(replies)->depth == 3);
  // Each announced with its message, in order.
  auto got = recorder.wait_for(3);
  REQUIRE(got.size() == 3);
  for (std::size_t i = 0; i < got.size(); ++i) {
    auto* message = std::get_if<Message>(&got[i].notification);
    REQUIRE(message != nullptr);
    CHECK(message->message.id == (*sent)[i]);
    CHECK(number_of(message->message.payload) == 10 + static_cast<int>(i));
  }
  auto replied = f.provider.receive(replies, 10, 30s);
  REQUIRE(replied.ok());
  REQUIRE(replied->size() == 3);
  CHECK(number_of(replied->at(2).payload) == 12);

  // A batch that cannot be sent acks nothing.
  auto missing = unique_name("gone");
  auto refused
      = f.provider.send_and_ack_batch(missing, answers, requests, {taken[3]});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find(missing) != std::string::npos);
  std::vector<OutgoingMessage> broken{json_message({{"n", 1}}),
                                      {"{oops", {}, {}}};
  REQUIRE_FALSE(
      f.provider.send_and_ack_batch(replies, broken, requests, {taken[3]})
          .ok());
  CHECK(f.provider.metrics(requests)->depth == 1);
  CHECK(f.provider.metrics(replies)->depth == 3);
}

TEST_CASE("claims, acks and polls reach a queue's rows only through its "
          "indexes, however small the queue was when they were planned") {
  Fixture f{PgmqOptions{}};
  auto q = f.queue("idx");
  // Backends report their scan counts to the statistics when idle, within
  // seconds. Building the new queue's indexes scanned its table: wait for
  // that count first.
  auto scans = [&] {
    auto row = admin_exec("SELECT coalesce(seq_scan, 0), coalesce(idx_scan, "
                          "0) FROM pg_stat_user_tables WHERE schemaname = "
                          "'pgmq' AND relname = $1",
                          "q_" + q);
    REQUIRE(row.size() == 1);
    return std::make_pair(row[0][0].as<int64_t>(), row[0][1].as<int64_t>());
  };
  REQUIRE(tasker::testing::eventually(
      [&] {
        return scans().first > 0;
      },
      30s));
  auto before = scans();
  // Planned on an empty table: a generic plan would scan it whole.
  for (int n = 0; n < 3; ++n) {
    auto id = f.provider.send(q, json_message({{"n", n}}));
    REQUIRE(id.ok());
    auto claimed = f.provider.read_by_id(q, *id, 30s);
    REQUIRE(claimed.ok());
    REQUIRE(claimed->has_value());
    REQUIRE(f.provider.ack(q, *id).ok());
  }
  REQUIRE(f.provider.send(q, json_message({{"n", 3}})).ok());
  auto polled = f.provider.receive(q, 10, 30s);
  REQUIRE(polled.ok());
  REQUIRE(polled->size() == 1);
  REQUIRE(f.provider.ack_batch(q, {polled->front().id}).ok());
  // Then no sequential scan came with the index scans.
  CHECK(tasker::testing::eventually(
      [&] {
        return scans().second >= before.second + 8;
      },
      30s));
  auto [seq, idx] = scans();
  auto seq_during = seq - before.first;
  auto idx_during = idx - before.second;
  CHECK_MESSAGE(seq_during == 0, seq_during << " sequential and " << idx_during
                                            << " index scans");
}

TEST_CASE("a delayed message is announced when it becomes visible") {
  Fixture f;
  auto q = f.queue("dly");
  Recorder recorder;
  auto sub = f.provider.subscribe(q, recorder.handler());
  REQUIRE(sub.ok());
  auto sent_at = SteadyClock::now();
  auto id = f.provider.send(q, json_message({{"n", 1}}, {}, 1500ms));
  REQUIRE(id.ok());
  CHECK(recorder.wait_for(1, 1000ms).empty());
  auto got = recorder.wait_for(1, 3s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].at - sent_at >= 1500ms);
  CHECK(got[0].at - sent_at < 2500ms);
  auto& m = std::get<Message>(got[0].notification).message;
  CHECK(m.id == *id);
  CHECK(m.visible_at - m.enqueued_at == 1500ms);
  // Woken on time: the message can be taken now.
  auto taken = f.provider.receive(q, 10, 30s);
  REQUIRE(taken.ok());
  REQUIRE(taken->size() == 1);
  CHECK(taken->front().id == *id);
}

TEST_CASE("a batch is announced message by message, each small message "
          "inline, and a batch of more than 64 once as a signal to poll") {
  PgmqOptions options;
  options.inline_payload_limit = 100;
  Fixture f{options};
  auto q = f.queue("bat");
  Recorder recorder;
  auto sub = f.provider.subscribe(q, recorder.handler());
  REQUIRE(sub.ok());
  auto big_body = nlohmann::json{{"n", 1}, {"pad", std::string(84, 'b')}};
  REQUIRE(big_body.dump().size() == 100);
  std::vector<OutgoingMessage> batch{json_message({{"n", 0}}, {{"k", "v"}}),
                                     json_message(big_body),
                                     json_message({{"n", 2}}, {}, 1500ms)};
  auto ids = f.provider.send_batch(q, batch);
  REQUIRE(ids.ok());
  auto got = recorder.wait_for(3);
  REQUIRE(got.size() == 3);
  auto* first = std::get_if<Message>(&got[0].notification);
  REQUIRE(first != nullptr);
  CHECK(first->message.id == (*ids)[0]);
  CHECK_FALSE(first->message.leased);
  CHECK(first->message.headers == Headers{{"k", "v"}});
  CHECK(number_of(first->message.payload) == 0);
  auto* second = std::get_if<Available>(&got[1].notification);
  REQUIRE(second != nullptr);
  CHECK(second->msg_id == (*ids)[1]);
  // The delayed one is handed over when it becomes visible.
  auto* third = std::get_if<Message>(&got[2].notification);
  REQUIRE(third != nullptr);
  CHECK(third->message.id == (*ids)[2]);
  CHECK(third->message.visible_at - third->message.enqueued_at == 1500ms);

  std::vector<OutgoingMessage> large;
  for (int i = 0; i < 65; ++i)
    large.push_back(json_message({{"n", i}}));
  auto large_ids = f.provider.send_batch(q, large);
  REQUIRE(large_ids.ok());
  REQUIRE(large_ids->size() == 65);
  got = recorder.wait_for(4);
  REQUIRE(got.size() == 4);
  std::this_thread::sleep_for(300ms);
  CHECK(recorder.size() == 4);
  auto* available = std::get_if<Available>(&got[3].notification);
  REQUIRE(available != nullptr);
  CHECK(available->queue == q);
  CHECK_FALSE(available->msg_id.has_value());
}

TEST_CASE("the listener reconnects after its backend is terminated and "
          "asks for a poll") {
  LogCapture log;
  Fixture f;
  auto q = f.queue("rc", "_queue");
  Recorder recorder;
  auto sub = f.provider.subscribe(q, recorder.handler());
  REQUIRE(sub.ok());
  auto listener = f.backends("query LIKE 'LISTEN%'");
  REQUIRE(listener.size() == 1);
  f.terminate("pid = " + std::to_string(listener.front()));

  auto got = recorder.wait_for(1);
  REQUIRE(got.size() == 1);
  auto* poll = std::get_if<Available>(&got[0].notification);
  REQUIRE(poll != nullptr);
  CHECK(poll->queue == q);
  CHECK_FALSE(poll->msg_id.has_value());
  auto warnings = log.warnings();
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("gap of") != std::string::npos);
  CHECK(warnings[0].find(" ms") != std::string::npos);

  // LISTENing again: a new message is announced.
  auto id = f.provider.send(q, json_message({{"n", 1}}));
  REQUIRE(id.ok());
  got = recorder.wait_for(2);
  REQUIRE(got.size() == 2);
  CHECK(std::get<Message>(got[1].notification).message.id == *id);
  CHECK(f.backends("query LIKE 'LISTEN%'") != listener);
}

TEST_CASE("the pool replaces connections whose backends were terminated") {
  PgmqOptions options;
  options.pool_size = 2;
  Fixture f{options};
  auto q = f.queue("pool");
  // Two sends at once open both pooled connections.
  auto a = std::async(std::launch::async, [&] {
    return f.provider.send(q, json_message({{"n", 1}}));
  });
  auto b = std::async(std::launch::async, [&] {
    return f.provider.send(q, json_message({{"n", 2}}));
  });
  REQUIRE(a.get().ok());
  REQUIRE(b.get().ok());
  auto before = f.backends();
  REQUIRE_FALSE(before.empty());
  f.terminate();

  // Even send, which is never retried after sending, finds a live
  // connection: the dead ones are noticed before anything is sent.
  auto third = f.provider.send(q, json_message({{"n", 3}}));
  REQUIRE_MESSAGE(third.ok(), third.error().to_string());
  auto got = f.provider.receive(q, 10, 30s);
  REQUIRE_MESSAGE(got.ok(), got.error().to_string());
  CHECK(got->size() == 3);
  std::vector<int64_t> ids;
  for (const auto& m : *got)
    ids.push_back(m.id);
  CHECK(f.provider.ack_batch(q, ids).ok());
  CHECK(f.provider.metrics(q)->depth == 0);
  for (int pid : f.backends())
    CHECK(std::find(before.begin(), before.end(), pid) == before.end());
}

TEST_CASE("prepared statements are prepared again on a new connection") {
  PgmqOptions options;
  options.pool_size = 1;
  Fixture f{options};
  auto q = f.queue("prep");
  auto first = f.provider.send(q, json_message({{"n", 1}}));
  REQUIRE(first.ok());
  REQUIRE(f.provider.receive(q, 1, 0s)->size() == 1);
  auto old_backend = f.backends();
  REQUIRE(old_backend.size() == 1);
  f.terminate();
  auto second = f.provider.send(q, json_message({{"n", 2}}));
  REQUIRE_MESSAGE(second.ok(), second.error().to_string());
  CHECK(*second > *first);
  auto got = f.provider.receive(q, 10, 30s);
  REQUIRE_MESSAGE(got.ok(), got.error().to_string());
  CHECK(got->size() == 2);
  auto new_backend = f.backends();
  REQUIRE(new_backend.size() == 1);
  CHECK(new_backend != old_backend);
}

TEST_CASE("a send whose connection breaks mid-statement is not retried") {
  PgmqOptions options;
  options.pool_size = 1;
  Fixture f{options};
  auto q = f.queue("doubt");
  auto warm = f.provider.send(q, json_message({{"n", 0}}));
  REQUIRE(warm.ok());
  REQUIRE(f.provider.ack(q, *warm).ok());
  REQUIRE(f.provider.metrics(q)->depth == 0);

  // Hold the table so the send waits inside its statement, then cut its
  // connection: its outcome is unknown to the provider.
  pqxx::connection holder{database_url()};
  pqxx::work lock{holder};
  lock.exec("LOCK TABLE pgmq.q_" + q + " IN ACCESS EXCLUSIVE MODE");
  auto sending = std::async(std::launch::async, [&] {
    return f.provider.send(q, json_message({{"n", 1}}));
  });
  auto deadline = SteadyClock::now() + 5s;
  while (f.backends("wait_event_type = 'Lock'").empty()
         && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  f.terminate("wait_event_type = 'Lock'");
  bool returned = sending.wait_for(5s) == std::future_status::ready;
  lock.abort();
  auto result = sending.get();
  CHECK(returned);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == ErrorCode::backend_unavailable);
  CHECK(result.error().message().find("outcome is unknown")
        != std::string::npos);
  CHECK(result.error().message().find(q) != std::string::npos);
  // Not retried: the cut statement was rolled back and nothing else came.
  auto m = f.provider.metrics(q);
  REQUIRE(m.ok());
  CHECK(m->depth == 0);
  CHECK(f.provider.send(q, json_message({{"n", 2}})).ok());
}

TEST_CASE("unparsable notifications are counted and skipped") {
  auto listener
      = std::make_shared<PgmqListener>(PgmqListenerOptions{database_url()});
  auto q = unique_name("lsn") + "_queue";
  auto other = unique_name("lsn") + "_queue";
  Recorder recorder;
  auto sub = listener->subscribe({q}, recorder.handler());
  REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());
  auto channel = notify_channel(q);
  admin_exec("SELECT pg_notify($1, $2)", channel, "not json at all");
  admin_exec("SELECT pg_notify($1, $2)", channel, R"({"event_type": 42})");
  admin_exec("SELECT pg_notify($1, $2)", notify_channel(other),
             nlohmann::json{{"event_type", "message_ready"},
                            {"queue_name", other},
                            {"msg_id", 6}}
                 .dump());
  admin_exec("SELECT pg_notify($1, $2)", channel,
             nlohmann::json{{"event_type", "message_ready"},
                            {"queue_name", q},
                            {"msg_id", 7}}
                 .dump());
  auto got = recorder.wait_for(1);
  REQUIRE(got.size() == 1);
  auto* available = std::get_if<Available>(&got[0].notification);
  REQUIRE(available != nullptr);
  CHECK(available->queue == q);
  CHECK(available->msg_id == 7);
  CHECK(listener->parse_errors() == 2);
}

TEST_CASE("cancel waits for a running handler and ends the deliveries") {
  auto listener
      = std::make_shared<PgmqListener>(PgmqListenerOptions{database_url()});
  auto q = unique_name("cnl") + "_queue";
  std::atomic<int> calls{0};
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  auto sub = listener->subscribe({q}, [&](MessageNotification) {
    ++calls;
    started = true;
    std::this_thread::sleep_for(300ms);
    finished = true;
  });
  REQUIRE(sub.ok());
  auto notify = [&] {
    admin_exec("SELECT pg_notify($1, $2)", notify_channel(q),
               nlohmann::json{{"event_type", "batch_ready"}, {"queue_name", q}}
                   .dump());
  };
  notify();
  auto deadline = SteadyClock::now() + 5s;
  while (!started && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  REQUIRE(started);
  auto cancel_start = SteadyClock::now();
  sub->cancel();
  CHECK(finished);
  CHECK(SteadyClock::now() - cancel_start < 1s);
  notify();
  std::this_thread::sleep_for(300ms);
  CHECK(calls == 1);
}

TEST_CASE("a worn-out message is dead-lettered and the receive goes on") {
  Fixture f;
  auto q = f.queue("worn");
  auto first = f.provider.send(q, json_message({{"n", 1}}, {{"k", "v"}}));
  auto second = f.provider.send(q, json_message({{"n", 2}}));
  auto third = f.provider.send(q, json_message({{"n", 3}}));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(third.ok());
  for (int delivery = 1; delivery <= 3; ++delivery) {
    auto got = f.provider.receive(q, 1, 0s);
    REQUIRE(got.ok());
    REQUIRE(got->size() == 1);
    CHECK(got->front().id == *first);
    REQUIRE(f.provider.read_by_id(q, *third, 0s)->has_value());
  }
  // Max deliveries (3) reached: moved, and the next one comes instead.
  auto got = f.provider.receive(q, 1, 30s);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK(got->front().id == *second);
  CHECK_FALSE(f.provider.read_by_id(q, *third, 30s)->has_value());
  auto dead = f.provider.receive(q + "_dlq", 10, 30s);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 2);
  CHECK(dead->front().headers
        == Headers{{"k", "v"},
                   {"x-dead-letter-reason", "max_deliveries_exceeded"},
                   {"x-original-id", std::to_string(*first)},
                   {"x-original-queue", q}});
  CHECK(dead->back().headers.at("x-original-id") == std::to_string(*third));
  CHECK(f.provider.metrics(q)->depth == 1);
}

TEST_CASE("read_by_ids claims the visible ones of its ids in id order and "
          "skips the leased, the gone and the worn out") {
  Fixture f;
  auto q = f.queue("byids");
  std::vector<int64_t> ids;
  for (int n = 0; n < 5; ++n) {
    auto id = f.provider.send(q, json_message({{"n", n}}));
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  REQUIRE(f.provider.read_by_id(q, ids[1], 30s)->has_value());
  REQUIRE(f.provider.ack(q, ids[3]).ok());
  // Message 4 reaches max deliveries (3) through claims that lapse at once.
  for (int delivery = 1; delivery <= 3; ++delivery)
    REQUIRE(f.provider.read_by_id(q, ids[4], 0s)->has_value());
  auto got = f.provider.read_by_ids(
      q, {ids[4], ids[3], ids[2], ids[1], ids[0], ids[4] + 1000}, 30s);
  REQUIRE_MESSAGE(got.ok(), got.error().to_string());
  REQUIRE(got->size() == 2);
  CHECK(got->at(0).id == ids[0]);
  CHECK(got->at(1).id == ids[2]);
  CHECK(number_of(got->at(1).payload) == 2);
  CHECK(got->at(1).leased);
  CHECK(got->at(1).delivery_count == 1);
  // Leased now: a second claim gets nothing.
  auto again = f.provider.read_by_ids(q, {ids[0], ids[2]}, 30s);
  REQUIRE(again.ok());
  CHECK(again->empty());
  auto dead = f.provider.receive(q + "_dlq", 10, 30s);
  REQUIRE(dead.ok());
  REQUIRE(dead->size() == 1);
  CHECK(dead->front().headers.at("x-original-id") == std::to_string(ids[4]));
  CHECK(f.provider.read_by_ids(q, {}, 30s)->empty());
  auto bad = f.provider.read_by_ids("no such queue", {ids[0]}, 30s);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("no such queue") != std::string::npos);
}

TEST_CASE("claims by id read their messages by key however empty the "
          "statistics say the queue is") {
  Fixture f;
  auto q = f.queue("bykey");
  auto table = "pgmq.q_" + q;
  // Statistics of a nearly emptied queue (its pages, one row: the last
  // one keeps VACUUM from truncating), then 2,000 messages of 1 kB: a plan
  // that walks the primary key reads every one of them.
  auto fill = "INSERT INTO " + table
              + " (vt, message) SELECT clock_timestamp(), jsonb_build_object("
                "'n', g, 'pad', repeat('x', 1000)) FROM generate_series(1, "
                "2000) g RETURNING msg_id";
  admin_exec(fill);
  admin_exec("DELETE FROM " + table
             + " WHERE msg_id < (SELECT max(msg_id) "
               "FROM "
             + table + ")");
  admin_exec("VACUUM ANALYZE " + table);
  auto rows = admin_exec(fill);
  std::vector<int64_t> ids;
  for (const auto& row : rows)
    ids.push_back(row[0].as<int64_t>());
  std::sort(ids.begin(), ids.end());
  // Past the five custom plans, so the generic plan is in use too.
  for (std::size_t n = 0; n < 8; ++n) {
    auto many = f.provider.read_by_ids(q, {ids[2 * n], ids[2 * n + 1]}, 30s);
    REQUIRE_MESSAGE(many.ok(), many.error().to_string());
    CHECK(many->size() == 2);
    auto one = f.provider.read_by_id(q, ids[100 + n], 30s);
    REQUIRE_MESSAGE(one.ok(), one.error().to_string());
    CHECK(one->has_value());
  }
  admin_exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  auto claims = admin_exec(
      "SELECT sum(calls)::bigint, sum(shared_blks_hit + shared_blks_read)::"
      "bigint FROM pg_stat_statements WHERE dbid = (SELECT oid FROM "
      "pg_database WHERE datname = current_database()) AND query LIKE $1",
      "%FROM " + table + " WHERE msg_id = %vt <= clock_timestamp()%");
  REQUIRE(claims.size() == 1);
  REQUIRE_FALSE(claims[0][0].is_null());
  auto calls = claims[0][0].as<int64_t>();
  auto buffers = claims[0][1].as<int64_t>();
  REQUIRE(calls == 16);
  // A key lookup and an update: tens of buffers; the walk read ~300.
  CHECK_MESSAGE(buffers / calls < 60,
                buffers << " buffers in " << calls << " claims");
}

TEST_CASE("the provider and the PGMQ SQL API share queues") {
  Fixture f;
  auto q = f.queue("sql");
  admin_exec("SELECT * FROM pgmq.send($1, $2::jsonb, $3::jsonb)", q,
             R"({"n": 1})", R"({"from": "sql", "count": 2})");
  auto got = f.provider.receive(q, 1, 30s);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK(number_of(got->front().payload) == 1);
  // Non-string header values from foreign clients come as their JSON text.
  CHECK(got->front().headers == Headers{{"count", "2"}, {"from", "sql"}});
  CHECK(got->front().delivery_count == 1);

  auto id = f.provider.send(q, json_message({{"n", 2}}, {{"trace", "t1"}}));
  REQUIRE(id.ok());
  auto read = admin_exec("SELECT * FROM pgmq.read($1, 30, 1)", q);
  REQUIRE(read.size() == 1);
  CHECK(read[0]["msg_id"].as<int64_t>() == *id);
  CHECK(read[0]["headers"].as<std::string>() == R"({"trace": "t1"})");
  CHECK(read[0]["read_ct"].as<int>() == 1);
  CHECK(admin_exec("SELECT pgmq.delete($1, $2::bigint)", q, *id)[0][0]
            .as<bool>());
  auto m = f.provider.metrics(q);
  REQUIRE(m.ok());
  CHECK(m->depth == 1);
  CHECK(m->total_sent == 2);
}

TEST_CASE("ensuring queues that exist leaves their tables unlocked") {
  // A node starting while others write to its queues: creating an existing
  // queue again took a share lock on its table, which waited for the
  // writers (and deadlocked with a running node's decision write).
  Fixture f;
  auto q = f.queue("busy");
  pqxx::connection writer{database_url()};
  pqxx::work open_write{writer};
  open_write.exec("INSERT INTO pgmq.q_" + q
                  + " (vt, message) VALUES (now(), '{}'::jsonb)");
  auto ensured = std::async(std::launch::async, [&] {
    return f.provider.ensure_queues({q});
  });
  auto finished = ensured.wait_for(10s) == std::future_status::ready;
  open_write.abort();
  CHECK(finished);
  auto result = ensured.get();
  CHECK_MESSAGE(result.ok(), result.error().to_string());
  CHECK(f.provider.queue_exists(q).value());
}

TEST_CASE("a payload that is not JSON is rejected naming the queue") {
  Fixture f;
  auto q = f.queue("nojson");
  auto sent = f.provider.send(q, {"not json", {}, {}});
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code() == ErrorCode::invalid_argument);
  CHECK(sent.error().message().find("payload is not JSON")
        != std::string::npos);
  CHECK(sent.error().message().find(q) != std::string::npos);
}

TEST_CASE("connect fails naming host and port but not the password") {
  PgmqOptions options;
  options.url = "postgresql://tasker:s3cret-pw@127.0.0.1:1/nowhere";
  options.connect_retries = 2;
  options.connect_timeout = 1s;
  auto provider = PgmqProvider::connect(options);
  REQUIRE_FALSE(provider.ok());
  CHECK(provider.error().code() == ErrorCode::backend_unavailable);
  CHECK(provider.error().message().find("127.0.0.1:1") != std::string::npos);
  CHECK(provider.error().message().find("2 attempts") != std::string::npos);
  CHECK(provider.error().message().find("s3cret-pw") == std::string::npos);
}

TEST_CASE("capabilities ask for fallback polling at the configured interval") {
  PgmqOptions options;
  options.fallback_polling_interval = 1234ms;
  options.max_message_size = 4096;
  Fixture f{options};
  auto caps = f.provider.capabilities();
  CHECK(caps.requires_fallback_polling);
  CHECK(caps.fallback_polling_interval == 1234ms);
  CHECK(caps.supports_fetch_by_message_id);
  CHECK(caps.supports_visibility_extension);
  CHECK(caps.max_message_size == 4096);
  CHECK(caps.exact_metrics);
  CHECK(f.provider.provider_name() == "pgmq");
}

TEST_CASE("notify namespaces and timestamps follow tasker's rules") {
  CHECK(notify_namespace("orchestration_step_results") == "orchestration");
  CHECK(notify_namespace("worker_payments_queue") == "payments");
  CHECK(notify_namespace("fulfillment_queue") == "fulfillment");
  CHECK(notify_namespace("worker_payments_queue_dlq") == "default");
  CHECK(notify_namespace("anything") == "default");
  CHECK(notify_channel("worker_a_queue") == "pgmq_message_ready.a");

  using std::chrono::sys_days;
  using namespace std::chrono;
  auto base = sys_days{2026y / 11 / 22} + 14h + 35min + 20s;
  CHECK(parse_iso_timestamp("2026-11-22T14:35:20.908336+00:00")
        == base + 908336us);
  CHECK(parse_iso_timestamp("2026-11-22T16:35:20+02:00") == base);
  CHECK(parse_iso_timestamp("2026-11-22T09:05:20.5-05:30") == base + 500ms);
  CHECK(parse_iso_timestamp("2026-11-22 14:35:20Z") == base);
  CHECK_FALSE(parse_iso_timestamp("2026-13-22T14:35:20Z").has_value());
  CHECK_FALSE(parse_iso_timestamp("yesterday").has_value());
  CHECK_FALSE(parse_iso_timestamp("2026-11-22T14:35:20+").has_value());
}

TEST_CASE("driver exceptions become errors naming the queue and operation") {
  auto translate = [](auto exception) {
    try {
      throw exception;
    } catch (...) {
      return current_pg_error("send", "orders");
    }
  };
  auto lost
      = translate(pqxx::broken_connection{"server closed the connection"});
  CHECK(lost.code() == ErrorCode::backend_unavailable);
  CHECK(lost.message()
        == "pgmq send on queue 'orders': database connection failed: server "
           "closed the connection");
  CHECK(translate(pqxx::in_doubt_error{"commit unknown"}).code()
        == ErrorCode::backend_unavailable);
  auto missing = translate(pqxx::undefined_table{
      "ERROR:  relation \"pgmq.q_orders\" does not exist\nLINE 1: INSERT INTO "
      "pgmq.q_orders ...",
      "INSERT INTO pgmq.q_orders ...", "42P01"});
  CHECK(missing.code() == ErrorCode::queue_not_found);
  CHECK(missing.message().find("LINE 1") == std::string::npos);
  CHECK(missing.message().find("'orders'") != std::string::npos);
  auto not_json = translate(pqxx::data_exception{
      "ERROR:  invalid input syntax for type json", "SELECT", "22P02"});
  CHECK(not_json.code() == ErrorCode::invalid_argument);
  CHECK(not_json.message().find("payload is not JSON") != std::string::npos);
  auto other = translate(pqxx::sql_error{
      "ERROR:  duplicate key value\nDETAIL:  Key (msg_id)=(1) already exists.",
      "INSERT", "23505"});
  CHECK(other.code() == ErrorCode::backend_error);
  CHECK(other.message()
        == "pgmq send on queue 'orders': ERROR:  duplicate key value "
           "(SQLSTATE 23505)");
  CHECK(
      translate(pqxx::sql_error{"ERROR:  terminating connection", "", "57P01"})
          .code()
      == ErrorCode::backend_unavailable);
  CHECK(translate(std::runtime_error{"boom"}).code() == ErrorCode::internal);
  CHECK(translate(std::bad_alloc{}).code() == ErrorCode::internal);
}
