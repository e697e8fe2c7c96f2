// What the shared conformance suite does not cover of the in-memory
// provider: its push modes, prefetch, round robin, cancellation, callbacks
// into the provider, its thread, exact timing and concurrency. Every
// time-dependent test runs on a manual clock.

#include "messaging/in_memory/in_memory_provider.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace tasker::messaging;
using tasker::core::ErrorCode;

namespace {

/// Records the notifications of one subscription.
class Inbox {
 public:
  NotificationHandler handler() {
    return [this](MessageNotification n) {
      std::lock_guard<std::mutex> guard{mutex_};
      items_.push_back(std::move(n));
    };
  }

  /// Returns and forgets what arrived so far.
  std::vector<MessageNotification> take() {
    std::lock_guard<std::mutex> guard{mutex_};
    return std::exchange(items_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<MessageNotification> items_;
};

/// The messages of `Message` notifications; fails on any other kind.
std::vector<QueuedMessage>
messages_of(const std::vector<MessageNotification>& notifications) {
  std::vector<QueuedMessage> out;
  for (const auto& n : notifications) {
    REQUIRE(std::holds_alternative<Message>(n));
    out.push_back(std::get<Message>(n).message);
  }
  return out;
}

std::vector<int64_t>
ids_of(const std::vector<MessageNotification>& notifications) {
  std::vector<int64_t> out;
  for (const auto& n : notifications) {
    if (const auto* available = std::get_if<Available>(&n))
      out.push_back(available->msg_id.value_or(-1));
    else
      out.push_back(std::get<Message>(n).message.id);
  }
  return out;
}

/// A provider on a manual clock with queue `q` created.
struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  InMemoryProvider provider;
  std::string q = "jobs";

  explicit Fixture(InMemoryOptions options = {})
      : provider(with_clock(std::move(options), clock)) {
    REQUIRE(provider.create_queue(q).ok());
  }

  static InMemoryOptions with_clock(InMemoryOptions options,
                                    std::shared_ptr<ManualClock> clock) {
    options.manual_clock = std::move(clock);
    return options;
  }

  int64_t send(std::string payload = "x", std::chrono::milliseconds delay = {},
               Headers headers = {}) {
    auto id = provider.send(q, {std::move(payload), std::move(headers), delay});
    REQUIRE_MESSAGE(id.ok(), id.error().to_string());
    return *id;
  }

  Subscription subscribe(Inbox& inbox) {
    auto sub = provider.subscribe(q, inbox.handler());
    REQUIRE_MESSAGE(sub.ok(), sub.error().to_string());
    return std::move(*sub);
  }
};

InMemoryOptions leased(int32_t prefetch,
                       std::chrono::seconds lease = std::chrono::seconds{30}) {
  InMemoryOptions options;
  options.push_mode = InMemoryPushMode::leased_message;
  options.prefetch = prefetch;
  options.push_visibility_timeout = lease;
  return options;
}

InMemoryOptions announcing(InMemoryPushMode mode, std::size_t inline_limit) {
  InMemoryOptions options;
  options.push_mode = mode;
  options.inline_payload_limit = inline_limit;
  return options;
}

std::size_t thread_count() {
  auto tasks = std::filesystem::directory_iterator{"/proc/self/task"};
  return static_cast<std::size_t>(std::distance(std::filesystem::begin(tasks),
                                                std::filesystem::end(tasks)));
}

} // namespace

TEST_CASE("capabilities follow the push mode") {
  InMemoryOptions options = leased(10);
  options.max_message_size = 4096;
  auto leasing = Fixture{options}.provider.capabilities();
  CHECK_FALSE(leasing.requires_fallback_polling);
  CHECK(leasing.supports_fetch_by_message_id);
  CHECK(leasing.supports_visibility_extension);
  CHECK(leasing.max_message_size == 4096);
  for (auto mode : {InMemoryPushMode::notify, InMemoryPushMode::signal}) {
    auto caps = Fixture{announcing(mode, 100)}.provider.capabilities();
    CHECK(caps.requires_fallback_polling);
    CHECK(caps.fallback_polling_interval == 1000ms);
    CHECK(caps.supports_fetch_by_message_id);
  }
}

TEST_CASE("a leased push stops at the prefetch and pushes the next message "
          "after an ack") {
  Fixture f{leased(2)};
  Inbox inbox;
  auto sub = f.subscribe(inbox);
  const auto start = f.clock->now();
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(f.send(std::to_string(i)));
  auto first = messages_of(inbox.take());
  REQUIRE(first.size() == 2);
  for (int i = 0; i < 2; ++i) {
    CHECK(first[i].id == ids[i]);
    CHECK(first[i].payload == std::to_string(i));
    CHECK(first[i].leased);
    CHECK(first[i].delivery_count == 1);
    CHECK(first[i].visible_at == start + 30s);
  }
  CHECK(f.provider.metrics(f.q)->visible_depth == 3);
  REQUIRE(f.provider.ack(f.q, ids[0]).ok());
  auto next = messages_of(inbox.take());
  REQUIRE(next.size() == 1);
  CHECK(next[0].id == ids[2]);
  REQUIRE(f.provider.nack(f.q, ids[1], NackAction::requeue()).ok());
  auto again = messages_of(inbox.take());
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == ids[1]);
  CHECK(again[0].delivery_count == 2);
  REQUIRE(f.provider.ack_batch(f.q, {ids[1], ids[2]}).ok());
  CHECK(ids_of(inbox.take()) == std::vector<int64_t>{ids[3], ids[4]});
}

TEST_CASE("a queue's own prefetch overrides the provider's") {
  auto options = leased(5);
  options.queue_prefetch["jobs"] = 1;
  options.queue_prefetch["other"] = 3;
  Fixture f{options};
  Inbox inbox;
  auto sub = f.subscribe(inbox);
  auto first = f.send("a");
  f.send("b");
  CHECK(ids_of(inbox.take()) == std::vector<int64_t>{first});
  CHECK(f.provider.metrics(f.q)->visible_depth == 1);
}

TEST_CASE("messages sent while nobody listens are pushed when a subscriber "
          "appears") {
  Fixture f{leased(10)};
  auto a = f.send();
  auto b = f.send();
  Inbox inbox;
  auto sub = f.subscribe(inbox);
  CHECK(ids_of(inbox.take()) == std::vector<int64_t>{a, b});
}

TEST_CASE("an expired push lease is pushed again with delivery count 2") {
  Fixture f{leased(1, 10s)};
  Inbox inbox;
  auto sub = f.subscribe(inbox);
  auto first = f.send();
  auto second = f.send();
  CHECK(ids_of(inbox.take()) == std::vector<int64_t>{first});
  f.clock->advance(9999ms);
  CHECK(inbox.take().empty());
  f.clock->advance(1ms);
  auto again = messages_of(inbox.take());
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == first);
  CHECK(again[0].delivery_count == 2);
  CHECK(again[0].visible_at == f.clock->now() + 10s);
  REQUIRE(f.provider.ack(f.q, first).ok());
  CHECK(ids_of(inbox.take()) == std::vector<int64_t>{second});
}

TEST_CASE("a pushed message whose lease keeps expiring is dead-lettered "
          "after max_deliveries pushes") {
  auto options = leased(1, 5s);
  options.max_deliveries = 2;
  Fixture f{options};
  Inbox inbox;
  auto sub = f.subscribe(inbox);
  auto id = f.send();
  f.clock->advance(5s);
  auto pushes = messages_of(inbox.take());
  REQUIRE(pushes.size() == 2);
  CHECK(pushes[1].delivery_count == 2);
  f.clock->advance(5s);
  CHECK(inbox.take().empty());
  CHECK(f.provider.metrics(f.q)->depth == 0);
  auto dead = f.provider.receive("jobs_dlq", 10, 30s);
  REQUIRE(dead->size() == 1);
  CHECK(dead->front().headers.at("x-original-id") == std::to_string(id));
}

TEST_CASE("leased pushes alternate round robin between two subscribers") {
  Fixture f{leased(100)};
  Inbox a;
  Inbox b;
  auto sub_a = f.subscribe(a);
  auto sub_b = f.subscribe(b);
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(f.send());
  CHECK(ids_of(a.take()) == std::vector<int64_t>{ids[0], ids[2], ids[4]});
  CHECK(ids_of(b.take()) == std::vector<int64_t>{ids[1], ids[3], ids[5]});
}

TEST_CASE("a subscriber without prefetch left is skipped by the round robin") {
  Fixture f{leased(1)};
  Inbox a;
  Inbox b;
  auto sub_a = f.subscribe(a);
  auto sub_b = f.subscribe(b);
  auto first = f.send();
  auto second = f.send();
  auto third = f.send();
  CHECK(ids_of(a.take()) == std::vector<int64_t>{first});
  CHECK(ids_of(b.take()) == std::vector<int64_t>{second});
  REQUIRE(f.provider.ack(f.q, second).ok());
  CHECK(a.take().empty());
  CHECK(ids_of(b.take()) == std::vector<int64_t>{third});
}

TEST_CASE("cancelling a subscription makes its unacked leases visible at "
          "once") {
  Fixture f{leased(10)};
  Inbox a;
  auto sub_a = f.subscribe(a);
  auto id = f.send();
  REQUIRE(a.take().size() == 1);
  Inbox b;
  auto sub_b = f.subscribe(b);
  CHECK(b.take().empty());
  sub_a.cancel();
  CHECK_FALSE(sub_a.active());
  auto moved = messages_of(b.take());
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].id == id);
  CHECK(moved[0].delivery_count == 2);
  sub_b.cancel();
  auto polled = f.provider.receive(f.q, 10, 30s);
  REQUIRE(polled->size() == 1);
  CHECK(polled->front().delivery_count == 3);
  CHECK(a.take().empty());
}

TEST_CASE("a push cancelled before its handler saw it does not count as a "
          "delivery") {
  Fixture f{leased(1)};
  Inbox b;
  std::optional<Subscription> sub_b;
  std::vector<QueuedMessage> seen_by_a;
  auto sub_a = f.provider.subscribe(f.q, [&](MessageNotification n) {
    seen_by_a.push_back(std::get<Message>(n).message);
    if (sub_b)
      sub_b->cancel();
    REQUIRE(f.provider.ack(f.q, seen_by_a.back().id).ok());
  });
  REQUIRE(sub_a.ok());
  sub_b = f.provider.subscribe(f.q, b.handler()).value();
  // One send: the first message goes to a, the second to b; a's handler
  // runs first and cancels b before b saw its push.
  REQUIRE(f.provider.send_batch(f.q, {{"1", {}, {}}, {"2", {}, {}}}).ok());
  CHECK(b.take().empty());
  REQUIRE(seen_by_a.size() == 2);
  CHECK(seen_by_a[1].payload == "2");
  CHECK(seen_by_a[1].delivery_count == 1);
}

TEST_CASE("a handler can ack inside its call without deadlock and is never "
          "re-entered") {
  Fixture f{leased(1)};
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(f.send());
  std::vector<int64_t> handled;
  bool inside = false;
  bool reentered = false;
  // Each ack frees the prefetch and pushes the next message from inside
  // the handler's call: it must wait for the call to return.
  auto sub = f.provider.subscribe(f.q, [&](MessageNotification n) {
    reentered = reentered || inside;
    inside = true;
    auto id = std::get<Message>(n).message.id;
    handled.push_back(id);
    CHECK(f.provider.ack(f.q, id).ok());
    inside = false;
  });
  REQUIRE(sub.ok());
  CHECK(handled == ids);
  CHECK_FALSE(reentered);
  CHECK(f.provider.metrics(f.q)->depth == 0);
}

TEST_CASE("a handler can cancel its own subscription") {
  Fixture f{leased(10)};
  int calls = 0;
  std::optional<Subscription> sub;
  sub = f.provider
            .subscribe(f.q,
                       [&](MessageNotification) {
                         ++calls;
                         sub->cancel();
                       })
            .value();
  f.send();
  f.send();
  CHECK(calls == 1);
  CHECK(f.provider.receive(f.q, 10, 30s)->size() == 2);
}

TEST_CASE("notify mode sends small payloads inline and large ones as "
          "Available") {
  Fixture f{announcing(InMemoryPushMode::notify, 10)};
  Inbox inbox;
  auto sub = f.subscribe(inbox);
  auto small = f.send("123456789", {}, {{"k", "v"}});
  auto large = f.send("1234567890");
  auto got = inbox.take();
  REQUIRE(got.size() == 2);
  REQUIRE(std::holds_alternative<Message>(got[0]));
  const auto& inline_message = std::get<Message>(got[0]).message;
  CHECK(inline_message.id == small);
  CHECK(inline_message.queue == f.q);
  CHECK_FALSE(inline_message.leased);
  CHECK(inline_message.delivery_count == 0);
  CHECK(inline_message.payload == "123456789");
  CHECK(inline_message.headers == Headers{{"k", "v"}});
  REQUIRE(std::holds_alternative<Available>(got[1]));
  CHECK(std::get<Available>(got[1]).queue == f.q);
  CHECK(std::get<Available>(got[1]).msg_id == large);
  auto claimed = f.provider.receive(f.q, 10, 30s);
  REQUIRE(claimed->size() == 2);
  CHECK(claimed->front().delivery_count == 1);
}

TEST_CASE("a delayed message is announced when its delay ends, not at "
          "send") {
  for (auto mode : {InMemoryPushMode::notify, InMemoryPushMode::signal}) {
    CAPTURE(static_cast<int>(mode));
    Fixture f{announcing(mode, 100)};
    Inbox inbox;
    auto sub = f.subscribe(inbox);
    auto id = f.send("later", 1500ms);
    CHECK(inbox.take().empty());
    f.clock->advance(1499ms);
    CHECK(inbox.take().empty());
    f.clock->advance(1ms);
    auto got = inbox.take();
    CHECK(ids_of(got) == std::vector<int64_t>{id});
    CHECK(std::holds_alternative<Message>(got.at(0))
          == (mode == InMemoryPushMode::notify));
    f.clock->advance(10s);
    CHECK(inbox.take().empty());
  }
}

TEST_CASE("signal mode announces by id whatever makes a message visible") {
  Fixture f{announcing(InMemoryPushMode::signal, 100000)};
  Inbox a;
  Inbox b;
  auto sub_a = f.subscribe(a);
  auto sub_b = f.subscribe(b);
  auto one = f.send();
  auto batch = f.provider.send_batch(f.q, {{"2", {}, {}}, {"3", {}, {}}});
  REQUIRE(batch.ok());
  auto got = a.take();
  for (const auto& n : got) {
    REQUIRE(std::holds_alternative<Available>(n));
    CHECK(std::get<Available>(n).queue == f.q);
  }
  auto expected = std::vector<int64_t>{one, (*batch)[0], (*batch)[1]};
  CHECK(ids_of(got) == expected);
  CHECK(ids_of(b.take()) == expected);
  REQUIRE(f.provider.read_by_id(f.q, one, 30s)->has_value());
  REQUIRE(f.provider.nack(f.q, one, NackAction::requeue(2s)).ok());
  CHECK(a.take().empty());
  f.clock->advance(2s);
  CHECK(ids_of(a.take()) == std::vector<int64_t>{one});
  CHECK(ids_of(b.take()) == std::vector<int64_t>{one});
}

TEST_CASE("on the manual clock delays and visibility timeouts end exactly on "
          "the millisecond") {
  Fixture f;
  const auto sent_at = f.clock->now();
  auto id = f.send("x", 1500ms);
  f.clock->advance(1499ms);
  CHECK(f.provider.receive(f.q, 10, 30s)->empty());
  CHECK_FALSE(f.provider.read_by_id(f.q, id, 30s)->has_value());
  CHECK(f.provider.metrics(f.q)->visible_depth == 0);
  f.clock->advance(1ms);
  CHECK(f.provider.metrics(f.q)->visible_depth == 1);
  auto got = f.provider.receive(f.q, 10, 2s);
  REQUIRE(got->size() == 1);
  CHECK(got->front().enqueued_at == sent_at);
  CHECK(got->front().visible_at == sent_at + 1500ms + 2s);
  f.clock->advance(1999ms);
  CHECK(f.provider.receive(f.q, 10, 2s)->empty());
  f.clock->advance(1ms);
  auto again = f.provider.receive(f.q, 10, 2s);
  REQUIRE(again->size() == 1);
  CHECK(again->front().delivery_count == 2);
  REQUIRE(f.provider.nack(f.q, id, NackAction::requeue(250ms)).ok());
  f.clock->advance(249ms);
  CHECK(f.provider.receive(f.q, 10, 2s)->empty());
  f.clock->advance(1ms);
  CHECK(f.provider.receive(f.q, 10, 2s)->size() == 1);
}

TEST_CASE("a message received max_deliveries times moves to the dead-letter "
          "queue with its headers") {
  InMemoryOptions options;
  options.max_deliveries = 2;
  Fixture f{options};
  auto id = f.send("poison", {}, {{"trace", "t1"}});
  CHECK(f.provider.receive(f.q, 10, 0s)->size() == 1);
  CHECK(f.provider.receive(f.q, 10, 0s)->size() == 1);
  f.clock->advance(5s);
  auto fresh = f.send("fine");
  auto third = f.provider.receive(f.q, 10, 30s);
  REQUIRE(third->size() == 1);
  CHECK(third->front().id == fresh);
  auto dlq = f.provider.metrics("jobs_dlq");
  CHECK(dlq->depth == 1);
  CHECK(dlq->total_sent == 1);
  auto dead = f.provider.receive("jobs_dlq", 10, 30s);
  REQUIRE(dead->size() == 1);
  const auto& m = dead->front();
  CHECK(m.payload == "poison");
  CHECK(m.enqueued_at == f.clock->now());
  CHECK(m.delivery_count == 1);
  CHECK(m.headers
        == Headers{{"trace", "t1"},
                   {"x-dead-letter-reason", "max_deliveries_exceeded"},
                   {"x-original-queue", "jobs"},
                   {"x-original-id", std::to_string(id)}});
  // A dead-letter queue is the end of the line: no further dead-lettering.
  REQUIRE(f.provider.nack("jobs_dlq", m.id, NackAction::requeue()).ok());
  for (int delivery = 2; delivery <= 5; ++delivery) {
    auto got = f.provider.receive("jobs_dlq", 10, 0s);
    REQUIRE(got->size() == 1);
    CHECK(got->front().delivery_count == delivery);
  }
}

TEST_CASE("four concurrent receivers get each of 10000 messages exactly "
          "once") {
  Fixture f;
  std::vector<OutgoingMessage> batch(100, OutgoingMessage{"p", {}, {}});
  for (int i = 0; i < 100; ++i)
    REQUIRE(f.provider.send_batch(f.q, batch).ok());
  std::mutex mutex;
  std::vector<int64_t> seen;
  std::atomic<int> failures{0};
  auto consume = [&] {
    for (;;) {
      auto got = f.provider.receive(f.q, 7, 60s);
      if (!got) {
        ++failures;
        return;
      }
      if (got->empty())
        return;
      std::vector<int64_t> ids;
      for (const auto& m : *got) {
        ids.push_back(m.id);
        if (m.delivery_count != 1)
          ++failures;
      }
      if (!f.provider.ack_batch(f.q, ids))
        ++failures;
      std::lock_guard<std::mutex> guard{mutex};
      seen.insert(seen.end(), ids.begin(), ids.end());
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back(consume);
  for (auto& t : threads)
    t.join();
  CHECK(failures == 0);
  CHECK(seen.size() == 10000);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 10000);
  CHECK(f.provider.metrics(f.q)->depth == 0);
}

TEST_CASE("destroying the last provider handle stops its thread") {
  const auto before = thread_count();
  std::optional<Subscription> sub;
  {
    InMemoryProvider provider;
    CHECK(thread_count() == before + 1);
    REQUIRE(provider.create_queue("jobs").ok());
    sub = provider.subscribe("jobs", [](MessageNotification) {}).value();
    REQUIRE(provider.send("jobs", {"x", {}, 1h}).ok());
    { auto copy = provider; }
    CHECK(thread_count() == before + 1);
  }
  CHECK(thread_count() == before);
  sub->cancel();
  CHECK_FALSE(sub->active());
}

TEST_CASE("deleting a queue frees the prefetch its pushed messages held") {
  Fixture f{leased(1)};
  REQUIRE(f.provider.create_queue("other").ok());
  Inbox inbox;
  auto sub = f.provider.subscribe_many({f.q, "other"}, inbox.handler());
  REQUIRE(sub.ok());
  f.send();
  auto waiting = f.provider.send("other", {"y", {}, {}});
  CHECK(inbox.take().size() == 1);
  REQUIRE(f.provider.delete_queue(f.q).ok());
  auto got = inbox.take();
  REQUIRE(got.size() == 1);
  CHECK(queue_of(got[0]) == "other");
  CHECK(ids_of(got) == std::vector<int64_t>{*waiting});
}

TEST_CASE("bad limits and timeouts are rejected naming the queue") {
  Fixture f;
  auto id = f.send();
  auto zero = f.provider.receive(f.q, 0, 30s);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().code() == ErrorCode::invalid_argument);
  CHECK(zero.error().message().find("'jobs'") != std::string::npos);
  CHECK(f.provider.receive(f.q, 1, -1s).error().code()
        == ErrorCode::invalid_argument);
  CHECK(f.provider.read_by_id(f.q, id, -1s).error().code()
        == ErrorCode::invalid_argument);
  CHECK(f.provider.extend_visibility(f.q, id, -1s).error().code()
        == ErrorCode::invalid_argument);
  auto missing = f.provider.ack(f.q, id + 1);
  CHECK(missing.error().message()
        == "message " + std::to_string(id + 1) + " not found in queue 'jobs'");
  auto no_queues = f.provider.subscribe_many({}, [](MessageNotification) {});
  CHECK(no_queues.error().code() == ErrorCode::invalid_argument);
}
