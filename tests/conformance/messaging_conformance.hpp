#pragma once

// The messaging conformance suite: written once, run against every provider.
// Include it in exactly one source file per test executable and apply it to
// fixture types:
//
//   TEST_CASE_TEMPLATE_APPLY(messaging_conformance,
//                            std::tuple<InMemoryLeasedFixture, ...>);
//
// A fixture is default-constructible and provides:
//   MessagingProvider provider;               // max_deliveries == 3
//   std::string queue(std::string_view tag);  // unique name, created, dropped
//                                             // with the fixture
//   void advance(std::chrono::milliseconds);  // let time pass
//   bool eventually(std::function<bool()>);   // true once it holds (waits
//                                             // where delivery is async)
//   static constexpr bool can_break_connections;
//   void break_connections();                 // kill the server side
//   static constexpr PushStyle push_style;    // what notifications look like
//   static constexpr std::size_t inline_limit;  // notify: inline below this

#include "config/queue_names.hpp"
#include "messaging/messaging_provider.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tasker::testing {

/// How a provider pushes, so the suite knows which notification to expect.
enum class PushStyle {
  /// Leased `Message` for every message (RabbitMQ, in-memory leased).
  leased_message,
  /// Unleased `Message` under the inline limit, `Available{id}` above it.
  notify,
  /// `Available{id}` only.
  signal,
};

/// Collects notifications from a provider thread.
class NotificationCollector {
 public:
  messaging::NotificationHandler handler() {
    return [this](messaging::MessageNotification n) {
      std::lock_guard<std::mutex> guard{mutex_};
      received_.push_back(std::move(n));
    };
  }

  std::vector<messaging::MessageNotification> snapshot() {
    std::lock_guard<std::mutex> guard{mutex_};
    return received_;
  }

  std::size_t size() {
    std::lock_guard<std::mutex> guard{mutex_};
    return received_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<messaging::MessageNotification> received_;
};

inline messaging::OutgoingMessage
json_message(int n, messaging::Headers headers = {},
             std::chrono::milliseconds delay = {}) {
  return {nlohmann::json{{"n", n}}.dump(), std::move(headers), delay};
}

inline int number_of(const messaging::QueuedMessage& m) {
  return nlohmann::json::parse(m.payload).at("n").get<int>();
}

inline bool has_code(const core::Error& e, core::ErrorCode code) {
  return e.code() == code;
}

} // namespace tasker::testing

// Every test case of the suite: `F` is the fixture type.

TEST_CASE_TEMPLATE_DEFINE("conformance", F, messaging_conformance) {
  using namespace std::chrono_literals;
  using namespace tasker::messaging;
  using namespace tasker::testing;
  using tasker::core::ErrorCode;

  F f;
  auto& p = f.provider;

  SUBCASE("a single consumer receives messages in send order") {
    auto q = f.queue("fifo");
    std::vector<int64_t> ids;
    for (int i = 0; i < 5; ++i) {
      auto id = p.send(q, json_message(i));
      REQUIRE_MESSAGE(id.ok(), id.error().to_string());
      ids.push_back(*id);
    }
    CHECK(std::is_sorted(ids.begin(), ids.end()));
    auto got = p.receive(q, 10, 30s);
    REQUIRE(got.ok());
    REQUIRE(got->size() == 5);
    for (int i = 0; i < 5; ++i) {
      CHECK((*got)[i].id == ids[i]);
      CHECK(number_of((*got)[i]) == i);
      CHECK((*got)[i].queue == q);
      CHECK((*got)[i].delivery_count == 1);
      CHECK((*got)[i].leased);
    }
  }

  SUBCASE("a received message is hidden for its visibility timeout") {
    auto q = f.queue("vt");
    REQUIRE(p.send(q, json_message(1)).ok());
    auto first = p.receive(q, 10, 1s);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 1);
    CHECK(first->front().visible_at > first->front().enqueued_at);
    CHECK(p.receive(q, 10, 1s)->empty());
    f.advance(1200ms);
    auto again = p.receive(q, 10, 30s);
    REQUIRE(again.ok());
    REQUIRE(again->size() == 1);
    CHECK(again->front().id == first->front().id);
    CHECK(again->front().delivery_count == 2);
  }

  SUBCASE("a delayed message becomes visible only after its delay") {
    auto q = f.queue("delay");
    REQUIRE(p.send(q, json_message(1, {}, 1500ms)).ok());
    REQUIRE(p.send(q, json_message(2)).ok());
    auto now = p.receive(q, 10, 30s);
    REQUIRE(now.ok());
    REQUIRE(now->size() == 1);
    CHECK(number_of(now->front()) == 2);
    f.advance(1700ms);
    auto later = p.receive(q, 10, 30s);
    REQUIRE(later.ok());
    REQUIRE(later->size() == 1);
    CHECK(number_of(later->front()) == 1);
  }

  SUBCASE("an acked message is gone for good") {
    auto q = f.queue("ack");
    auto id = p.send(q, json_message(1));
    REQUIRE(id.ok());
    auto got = p.receive(q, 1, 1s);
    REQUIRE(got->size() == 1);
    REQUIRE(p.ack(q, *id).ok());
    f.advance(1200ms);
    CHECK(p.receive(q, 10, 30s)->empty());
    auto twice = p.ack(q, *id);
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().code() == ErrorCode::message_not_found);
    CHECK(twice.error().message().find(q) != std::string::npos);
  }

  SUBCASE("ack_batch removes the messages it names and ignores the rest") {
    auto q = f.queue("ackbatch");
    std::vector<int64_t> ids;
    for (int i = 0; i < 4; ++i)
      ids.push_back(*p.send(q, json_message(i)));
    REQUIRE(p.receive(q, 4, 30s)->size() == 4);
    REQUIRE(p.ack_batch(q, {ids[0], ids[2], ids[3] + 1000}).ok());
    auto m = p.metrics(q);
    REQUIRE(m.ok());
    CHECK(m->depth == 2);
  }

  SUBCASE("a nacked message comes back at once with its delivery count") {
    auto q = f.queue("nack");
    auto id = p.send(q, json_message(7));
    REQUIRE(id.ok());
    REQUIRE(p.receive(q, 1, 30s)->size() == 1);
    REQUIRE(p.nack(q, *id, NackAction::requeue()).ok());
    auto again = p.receive(q, 1, 30s);
    REQUIRE(again->size() == 1);
    CHECK(again->front().id == *id);
    CHECK(again->front().delivery_count == 2);
    auto missing = p.nack(q, *id + 1000, NackAction::requeue());
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code() == ErrorCode::message_not_found);
  }

  SUBCASE("a nack with a delay hides the message for that delay") {
    auto q = f.queue("nackdelay");
    auto id = p.send(q, json_message(7));
    REQUIRE(p.receive(q, 1, 30s)->size() == 1);
    REQUIRE(p.nack(q, *id, NackAction::requeue(1500ms)).ok());
    CHECK(p.receive(q, 1, 30s)->empty());
    f.advance(1700ms);
    CHECK(p.receive(q, 1, 30s)->size() == 1);
  }

  SUBCASE("a nack to dead letter moves the message to its _dlq queue") {
    auto q = f.queue("dead");
    auto dlq = tasker::config::dead_letter_queue_name(q);
    auto id = p.send(q, json_message(9, {{"trace", "abc"}}));
    REQUIRE(p.receive(q, 1, 30s)->size() == 1);
    REQUIRE(p.nack(q, *id, NackAction::dead_letter("bad input")).ok());
    f.advance(100ms);
    CHECK(p.metrics(q)->depth == 0);
    auto dead = p.receive(dlq, 10, 30s);
    REQUIRE(dead.ok());
    REQUIRE(dead->size() == 1);
    auto& m = dead->front();
    CHECK(number_of(m) == 9);
    CHECK(m.headers.at("trace") == "abc");
    CHECK(m.headers.at("x-dead-letter-reason") == "bad input");
    CHECK(m.headers.at("x-original-queue") == q);
    CHECK(m.headers.at("x-original-id") == std::to_string(*id));
    CHECK(m.delivery_count == 1);
    auto again = p.nack(dlq, m.id, NackAction::dead_letter("again"));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code() == ErrorCode::invalid_argument);
  }

  SUBCASE("a message delivered too often is dead-lettered, not redelivered") {
    auto q = f.queue("poison");
    auto id = p.send(q, json_message(13));
    for (int delivery = 1; delivery <= 3; ++delivery) {
      auto got = p.receive(q, 1, 0s);
      REQUIRE(got.ok());
      REQUIRE(got->size() == 1);
      CHECK(got->front().delivery_count == delivery);
    }
    CHECK(p.receive(q, 1, 0s)->empty());
    auto dead = p.receive(tasker::config::dead_letter_queue_name(q), 1, 30s);
    REQUIRE(dead->size() == 1);
    CHECK(dead->front().headers.at("x-dead-letter-reason")
          == "max_deliveries_exceeded");
    CHECK(dead->front().headers.at("x-original-id") == std::to_string(*id));
  }

  SUBCASE("a batch is sent in order and received in order") {
    auto q = f.queue("batch");
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 10; ++i)
      batch.push_back(json_message(i, {{"i", std::to_string(i)}}));
    auto ids = p.send_batch(q, batch);
    REQUIRE_MESSAGE(ids.ok(), ids.error().to_string());
    REQUIRE(ids->size() == 10);
    CHECK(std::is_sorted(ids->begin(), ids->end()));
    auto got = p.receive(q, 20, 30s);
    REQUIRE(got->size() == 10);
    for (int i = 0; i < 10; ++i) {
      CHECK((*got)[i].id == (*ids)[i]);
      CHECK(number_of((*got)[i]) == i);
      CHECK((*got)[i].headers.at("i") == std::to_string(i));
    }
    auto empty = p.send_batch(q, {});
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().code() == ErrorCode::invalid_argument);
  }

  SUBCASE("two concurrent consumers never receive the same message") {
    auto q = f.queue("race");
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 200; ++i)
      batch.push_back(json_message(i));
    REQUIRE(p.send_batch(q, batch).ok());
    std::mutex mutex;
    std::multiset<int64_t> seen;
    std::atomic<int> errors{0};
    auto consume = [&] {
      for (;;) {
        auto got = p.receive(q, 5, 30s);
        if (!got) {
          ++errors;
          return;
        }
        if (got->empty())
          return;
        std::vector<int64_t> ids;
        for (auto& m : *got)
          ids.push_back(m.id);
        {
          std::lock_guard<std::mutex> guard{mutex};
          seen.insert(ids.begin(), ids.end());
        }
        if (!p.ack_batch(q, ids))
          ++errors;
      }
    };
    std::thread a{consume};
    std::thread b{consume};
    a.join();
    b.join();
    CHECK(errors == 0);
    CHECK(seen.size() == 200);
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 200);
  }

  SUBCASE("push notifications name the queue and lead to the message") {
    auto q = f.queue("push");
    NotificationCollector collector;
    auto sub = p.subscribe(q, collector.handler());
    REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());
    auto small = p.send(q, json_message(1));
    std::string big_text(F::inline_limit + 100, 'x');
    auto big = p.send(
        q, {nlohmann::json{{"n", 2}, {"pad", big_text}}.dump(), {}, {}});
    REQUIRE(small.ok());
    REQUIRE(big.ok());
    REQUIRE(f.eventually([&] {
      return collector.size() >= 2;
    }));
    sub->cancel();
    std::set<int64_t> announced;
    for (auto& n : collector.snapshot()) {
      CHECK(queue_of(n) == q);
      if (auto available = std::get_if<Available>(&n)) {
        CHECK(F::push_style != PushStyle::leased_message);
        REQUIRE(available->msg_id.has_value());
        announced.insert(*available->msg_id);
        auto fetched = p.read_by_id(q, *available->msg_id, 30s);
        REQUIRE(fetched.ok());
        REQUIRE(fetched->has_value());
        CHECK((*fetched)->id == *available->msg_id);
      } else {
        auto& m = std::get<Message>(n).message;
        CHECK(F::push_style != PushStyle::signal);
        CHECK(m.leased == (F::push_style == PushStyle::leased_message));
        announced.insert(m.id);
        CHECK(number_of(m) == (m.id == *small ? 1 : 2));
      }
    }
    CHECK(announced == std::set<int64_t>{*small, *big});
    if constexpr (F::push_style == PushStyle::notify) {
      for (auto& n : collector.snapshot()) {
        bool is_big = std::holds_alternative<Available>(n);
        auto id = is_big ? *std::get<Available>(n).msg_id
                         : std::get<Message>(n).message.id;
        CHECK(is_big == (id == *big));
      }
    }
  }

  SUBCASE("subscribing to a missing queue fails naming it") {
    NotificationCollector collector;
    auto sub = p.subscribe("tasker_absent_queue", collector.handler());
    REQUIRE_FALSE(sub.ok());
    CHECK(sub.error().code() == ErrorCode::queue_not_found);
    CHECK(sub.error().message().find("tasker_absent_queue")
          != std::string::npos);
  }

  SUBCASE("ensure_queues creates queues and verify_queues reports them") {
    auto a = f.queue("ens_a");
    auto b = a + "_b";
    auto missing = a + "_m";
    REQUIRE(p.ensure_queues({a, b}).ok());
    REQUIRE(p.ensure_queues({a, b}).ok());
    auto report = p.verify_queues({a, b, missing});
    REQUIRE(report.ok());
    std::set<std::string> healthy(report->healthy.begin(),
                                  report->healthy.end());
    std::set<std::string> absent(report->missing.begin(),
                                 report->missing.end());
    using tasker::config::dead_letter_queue_name;
    CHECK(healthy
          == std::set<std::string>{a, dead_letter_queue_name(a), b,
                                   dead_letter_queue_name(b)});
    CHECK(absent
          == std::set<std::string>{missing, dead_letter_queue_name(missing)});
    CHECK_FALSE(report->all_healthy());
    auto bad = p.verify_queues({"Bad-Name"});
    REQUIRE(bad.ok());
    REQUIRE(bad->errors.size() == 1);
    CHECK(bad->errors[0].first == "Bad-Name");
    REQUIRE(p.delete_queue(b).ok());
  }

  SUBCASE("queues are created, listed, found and deleted with their DLQ") {
    auto q = f.queue("life");
    auto extra = q + "_x";
    REQUIRE(p.create_queue(extra).ok());
    CHECK(*p.queue_exists(extra));
    auto listed = p.list_queues();
    REQUIRE(listed.ok());
    CHECK(std::is_sorted(listed->begin(), listed->end()));
    CHECK(std::count(listed->begin(), listed->end(), extra) == 1);
    CHECK(std::count(listed->begin(), listed->end(),
                     tasker::config::dead_letter_queue_name(extra))
          == 1);
    REQUIRE(p.delete_queue(extra).ok());
    CHECK_FALSE(*p.queue_exists(extra));
    CHECK_FALSE(*p.queue_exists(tasker::config::dead_letter_queue_name(extra)));
    auto again = p.delete_queue(extra);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code() == ErrorCode::queue_not_found);
    auto send = p.send(extra, json_message(1));
    REQUIRE_FALSE(send.ok());
    CHECK(send.error().code() == ErrorCode::queue_not_found);
    CHECK(send.error().message().find(extra) != std::string::npos);
    auto batch = p.send_batch(extra, {json_message(1), json_message(2)});
    REQUIRE_FALSE(batch.ok());
    CHECK(batch.error().code() == ErrorCode::queue_not_found);
    CHECK(batch.error().message().find(extra) != std::string::npos);
  }

  SUBCASE("metrics count all, visible and sent messages and the oldest age") {
    auto q = f.queue("metrics");
    auto empty = p.metrics(q);
    REQUIRE(empty.ok());
    CHECK(empty->depth == 0);
    CHECK_FALSE(empty->oldest_message_age.has_value());
    REQUIRE(p.send(q, json_message(1)).ok());
    REQUIRE(p.send(q, json_message(2)).ok());
    REQUIRE(p.send(q, json_message(3, {}, 60000ms)).ok());
    REQUIRE(p.receive(q, 1, 30s)->size() == 1);
    f.advance(1100ms);
    auto m = p.metrics(q);
    REQUIRE(m.ok());
    CHECK(m->queue == q);
    CHECK(m->depth == 3);
    CHECK(m->visible_depth == 1);
    if (p.capabilities().exact_metrics) {
      CHECK(m->total_sent == 3);
      REQUIRE(m->oldest_message_age.has_value());
      CHECK(*m->oldest_message_age >= 1s);
    }
  }

  SUBCASE("invalid queue names are rejected before any I/O") {
    for (std::string bad :
         {std::string{"Bad-Name"}, std::string(48, 'q'), std::string{"1queue"},
          std::string{"q; drop"}, std::string{""}}) {
      CAPTURE(bad);
      for (auto err :
           {p.create_queue(bad).error(), p.delete_queue(bad).error(),
            p.send(bad, json_message(1)).error(), p.receive(bad, 1, 1s).error(),
            p.ack(bad, 1).error(), p.metrics(bad).error()})
        CHECK(err.code() == ErrorCode::invalid_argument);
    }
    auto no_room = p.create_queue(std::string(45, 'q'));
    REQUIRE_FALSE(no_room.ok());
    CHECK(no_room.error().message().find("_dlq") != std::string::npos);
  }

  SUBCASE("an oversized payload is rejected with a clear error") {
    auto q = f.queue("big");
    auto limit = p.capabilities().max_message_size;
    std::string payload = "\"" + std::string(limit, 'x') + "\"";
    auto sent = p.send(q, {payload, {}, {}});
    REQUIRE_FALSE(sent.ok());
    CHECK(sent.error().code() == ErrorCode::payload_too_large);
    CHECK(sent.error().message().find(q) != std::string::npos);
    CHECK(sent.error().message().find(std::to_string(limit))
          != std::string::npos);
  }

  SUBCASE("read_by_id claims one visible message") {
    if (!p.capabilities().supports_fetch_by_message_id)
      return;
    auto q = f.queue("byid");
    auto first = p.send(q, json_message(1));
    auto second = p.send(q, json_message(2));
    auto got = p.read_by_id(q, *second, 30s);
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->id == *second);
    CHECK((*got)->delivery_count == 1);
    CHECK((*got)->leased);
    CHECK_FALSE(p.read_by_id(q, *second, 30s)->has_value());
    CHECK_FALSE(p.read_by_id(q, *second + 1000, 30s)->has_value());
    auto rest = p.receive(q, 10, 30s);
    REQUIRE(rest->size() == 1);
    CHECK(rest->front().id == *first);
  }

  SUBCASE("extend_visibility keeps a long-running message hidden") {
    if (!p.capabilities().supports_visibility_extension)
      return;
    auto q = f.queue("lease");
    auto id = p.send(q, json_message(1));
    REQUIRE(p.receive(q, 1, 1s)->size() == 1);
    REQUIRE(p.extend_visibility(q, *id, 3s).ok());
    f.advance(1500ms);
    CHECK(p.receive(q, 1, 30s)->empty());
    f.advance(2000ms);
    CHECK(p.receive(q, 1, 30s)->size() == 1);
    auto missing = p.extend_visibility(q, *id + 1000, 3s);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code() == ErrorCode::message_not_found);
  }

  SUBCASE("a connection loss in a receive loop loses no message") {
    if constexpr (!F::can_break_connections)
      return;
    auto q = f.queue("loss");
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 50; ++i)
      batch.push_back(json_message(i));
    REQUIRE(p.send_batch(q, batch).ok());
    std::set<int> done;
    int failures = 0;
    for (int round = 0; done.size() < 50 && round < 200; ++round) {
      if (round == 2)
        f.break_connections();
      auto got = p.receive(q, 5, 2s);
      if (!got) {
        CHECK(got.error().code() == ErrorCode::backend_unavailable);
        ++failures;
        continue;
      }
      for (auto& m : *got)
        if (p.ack(q, m.id).ok())
          done.insert(number_of(m));
      if (got->empty())
        f.advance(500ms);
    }
    CHECK(done.size() == 50);
    CHECK(failures <= 2);
    CHECK(p.metrics(q)->depth == 0);
  }
}
