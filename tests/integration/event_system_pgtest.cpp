// The worker event system on PGMQ: when the listener's connection is cut,
// the notifications sent meanwhile are lost, and the fallback poller
// catches up on their messages.

#include <doctest/doctest.h>

#include "actors/event_system.hpp"
#include "channels/actor_system_setup.hpp"
#include "messaging/pgmq/pgmq_provider.hpp"
#include "tests/integration/pg_admin.hpp"
#include "tests/integration/test_servers.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_processors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tasker;
using tasker::testing::backends_of;
using tasker::testing::eventually;
using tasker::testing::terminate_backends_of;

TEST_CASE("after the listener's connection is cut, the poller catches up") {
  const auto app = testing::unique_name("evsys");
  messaging::PgmqOptions pgmq;
  pgmq.url = testing::with_application_name(testing::database_url(), app);
  auto connected = messaging::PgmqProvider::connect(pgmq);
  REQUIRE_MESSAGE(connected.ok(), connected.error().to_string());
  messaging::MessagingProvider provider{std::move(*connected)};
  const auto queue = "worker_" + testing::unique_name("es") + "_queue";
  REQUIRE(provider.create_queue(queue).ok());

  caf::actor_system_config cfg;
  channels::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  testing::WorkerLog log{provider};
  auto processor = sys.spawn(testing::fake_worker_processor, &log);
  actors::EventSystemOptions options;
  options.name = "worker";
  options.queues = {queue};
  options.config.deployment_mode = config::DeploymentMode::hybrid;
  options.config.fallback_polling_interval_ms = 300;
  options.config.max_in_flight = 100;
  options.mode_key = "worker.event_system.deployment_mode";
  auto events = sys.spawn<actors::WorkerEventSystem>(
      provider, processor, &actors::route_worker, options);
  caf::scoped_actor self{sys};
  auto stats = [&] {
    channels::EventSystemStats out;
    self->request(events, 5s, channels::GetEventSystemStatus{})
        .receive(
            [&](channels::EventSystemStatus& status) {
              out = status.stats;
            },
            [&](caf::error& err) {
              FAIL(caf::to_string(err));
            });
    return out;
  };
  auto processed = [&](int64_t id) {
    return log.processed_snapshot().count(id) > 0;
  };

  // The listener is in place: a message arrives by notification.
  REQUIRE(eventually([&] {
    return !backends_of(app, "query LIKE 'LISTEN%'").empty();
  }));
  auto first = provider.send(queue, {R"({"n":0})", {}, {}});
  REQUIRE(first.ok());
  REQUIRE(eventually([&] {
    return processed(*first);
  }));
  CHECK(stats().notifications >= 1);
  auto polled_before = stats().polled_messages;

  // Cut the listener's connection, then send 65 messages in one
  // transaction while it is gone (it reconnects after 100 ms at the
  // earliest). A batch that large is announced once, as a signal to poll
  // with no message in it: the poller reads every message, whether the
  // signal was lost or the listener was back in time to hear it.
  REQUIRE(terminate_backends_of(app, "query LIKE 'LISTEN%'") == 1);
  std::vector<messaging::OutgoingMessage> batch;
  for (int i = 1; i <= 65; ++i)
    batch.push_back({R"({"n":)" + std::to_string(i) + "}", {}, {}});
  auto ids = provider.send_batch(queue, batch);
  REQUIRE(ids.ok());
  REQUIRE(eventually([&] {
    auto seen = log.processed_snapshot();
    for (auto id : *ids)
      if (seen.count(id) == 0)
        return false;
    return true;
  }));
  // The last answers may still be on their way to the router.
  CHECK(eventually([&] {
    return stats().in_flight == 0;
  }));
  auto after = stats();
  CHECK(after.polled_messages - polled_before >= 65);
  // Each exactly once, and nothing left in the queue.
  for (auto [id, times] : log.processed_snapshot())
    CHECK_MESSAGE(times == 1,
                  "message " << id << " processed " << times << " times");
  REQUIRE(eventually([&] {
    auto metrics = provider.metrics(queue);
    return metrics.ok() && metrics->depth == 0;
  }));

  // The listener is back: a new message is notified again.
  REQUIRE(eventually([&] {
    return !backends_of(app, "query LIKE 'LISTEN%'").empty();
  }));
  auto notifications = stats().notifications;
  auto last = provider.send(queue, {R"({"n":66})", {}, {}});
  REQUIRE(last.ok());
  REQUIRE(eventually([&] {
    return processed(*last);
  }));
  CHECK(stats().notifications > notifications);

  // The shutdown gate drains and stops.
  channels::DrainReport report;
  self->request(events, 10s, channels::ShutdownEventSystem{5000})
      .receive(
          [&](channels::DrainReport& r) {
            report = r;
          },
          [&](caf::error& err) {
            FAIL(caf::to_string(err));
          });
  CHECK(report.drained);
  self->send_exit(processor, caf::exit_reason::user_shutdown);
  CHECK(provider.delete_queue(queue).ok());
}
