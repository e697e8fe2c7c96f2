#include "actors/event_system.hpp"
#include "channels/actor_system_setup.hpp"
#include "core/logger.hpp"
#include "messaging/in_memory/in_memory_provider.hpp"
#include "messaging/in_memory/manual_clock.hpp"
#include "tests/support/fake_processors.hpp"
#include "tests/support/received.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace tasker;
using namespace tasker::actors;
using namespace tasker::channels;
using config::DeploymentMode;
using messaging::InMemoryOptions;
using messaging::InMemoryProvider;
using messaging::InMemoryPushMode;
using messaging::ManualClock;

namespace {

const std::string kQueue = "worker_billing_queue";
const std::string kModeKey = "worker.event_system.deployment_mode";

// Captures warnings while alive.
struct WarningCapture {
  std::mutex mutex;
  std::vector<std::string> lines;

  WarningCapture() {
    core::Logger::set_sink([this](core::LogLevel level,
                                  std::string_view component,
                                  std::string_view message) {
      if (level < core::LogLevel::warn)
        return;
      std::lock_guard<std::mutex> guard{mutex};
      lines.push_back(std::string{component} + ": " + std::string{message});
    });
  }

  ~WarningCapture() {
    core::Logger::set_sink({});
  }

  bool any_contains(const std::string& text) {
    std::lock_guard<std::mutex> guard{mutex};
    for (const auto& line : lines)
      if (line.find(text) != std::string::npos)
        return true;
    return false;
  }
};

InMemoryOptions options_for(InMemoryPushMode mode,
                            std::shared_ptr<ManualClock> clock) {
  InMemoryOptions options;
  options.push_mode = mode;
  options.manual_clock = std::move(clock);
  options.inline_payload_limit = 64;
  return options;
}

// A worker event system over the in-memory provider, on the test
// coordinator: virtual time for the actors, a manual clock for the
// provider, no sleeps.
struct Fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::scoped_actor self;
  std::shared_ptr<ManualClock> clock;
  testing::WorkerLog log;
  worker_processor_actor processor;
  event_system_actor events;
  std::size_t actors_before = 0;

  explicit Fixture(InMemoryPushMode mode, bool create_queue = true)
      : sys{prepared(cfg)},
        sched{dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())},
        self{sys}, clock{std::make_shared<ManualClock>()},
        log{messaging::MessagingProvider{
            InMemoryProvider{options_for(mode, clock)}}} {
    if (create_queue)
      REQUIRE(log.provider.create_queue(kQueue).ok());
    processor = sys.spawn(testing::fake_worker_processor, &log);
    sched.run();
    actors_before = sys.registry().running();
  }

  ~Fixture() {
    log.hold = false;
    log.finish();
    self->send_exit(processor, caf::exit_reason::user_shutdown);
    if (events)
      self->send_exit(events, caf::exit_reason::user_shutdown);
    sched.run();
  }

  static caf::actor_system_config& prepared(caf::actor_system_config& cfg) {
    configure_actor_system(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  void start(DeploymentMode mode, int64_t max_in_flight = 100) {
    EventSystemOptions options;
    options.name = "worker";
    options.queues = {kQueue};
    options.config.deployment_mode = mode;
    options.config.fallback_polling_interval_ms = 1000;
    options.config.batch_size = 20;
    options.config.max_in_flight = max_in_flight;
    options.mode_key = kModeKey;
    events = sys.spawn<WorkerEventSystem>(
        messaging::MessagingProvider{log.provider}, processor, &route_worker,
        options);
    sched.run();
  }

  // Running actors of the event system: itself, its router and poller, and
  // its listener.
  std::size_t event_actors() {
    return sys.registry().running() - actors_before;
  }

  // The same once the processor (counted in `actors_before`) has stopped.
  std::size_t event_actors_with_processor_gone() {
    return sys.registry().running() + 1 - actors_before;
  }

  int64_t send(std::string payload = R"({"step":1})") {
    auto id = log.provider.send(kQueue, {std::move(payload), {}, {}});
    REQUIRE(id.ok());
    sched.run();
    return *id;
  }

  void advance(caf::timespan by) {
    sched.advance_time(by);
    sched.run();
  }

  EventSystemStatus status() {
    auto handle = self->request(events, caf::infinite, GetEventSystemStatus{});
    sched.run();
    return testing::received<EventSystemStatus>(handle);
  }

  int64_t visible() {
    auto metrics = log.provider.metrics(kQueue);
    REQUIRE(metrics.ok());
    return metrics->visible_depth;
  }
};

std::string name_of(InMemoryPushMode mode) {
  switch (mode) {
    case InMemoryPushMode::leased_message: return "leased_message";
    case InMemoryPushMode::notify: return "notify";
    case InMemoryPushMode::signal: return "signal";
  }
  return "?";
}

} // namespace

TEST_CASE("each deployment mode starts the right actors for each provider") {
  struct Case {
    InMemoryPushMode push;
    DeploymentMode configured;
    DeploymentMode effective;
    bool listener;
    bool timer;
  };
  using M = DeploymentMode;
  using P = InMemoryPushMode;
  const Case cases[] = {
      // Providers whose notifications can be lost: as configured.
      {P::notify, M::hybrid, M::hybrid, true, true},
      {P::notify, M::polling_only, M::polling_only, false, true},
      {P::notify, M::event_driven_only, M::event_driven_only, true, false},
      {P::signal, M::hybrid, M::hybrid, true, true},
      {P::signal, M::polling_only, M::polling_only, false, true},
      {P::signal, M::event_driven_only, M::event_driven_only, true, false},
      // Native push that needs no fallback: always EventDrivenOnly.
      {P::leased_message, M::hybrid, M::event_driven_only, true, false},
      {P::leased_message, M::polling_only, M::event_driven_only, true, false},
      {P::leased_message, M::event_driven_only, M::event_driven_only, true,
       false},
  };
  for (const auto& c : cases) {
    CAPTURE(name_of(c.push));
    CAPTURE(config::to_string(c.configured));
    WarningCapture warnings;
    Fixture f{c.push};
    f.start(c.configured);
    auto status = f.status();
    CHECK(status.effective_mode == config::to_string(c.effective));
    CHECK(status.mode_overridden == (c.configured != c.effective));
    CHECK(status.listener == c.listener);
    CHECK(status.poll_timer == c.timer);
    CHECK(status.provider == "in_memory");
    // Itself, the router and the poller always, the listener per mode.
    CHECK(f.event_actors() == (c.listener ? 4u : 3u));
    // A notice when the mode was overridden, or is risky: EventDrivenOnly
    // on a provider whose notifications can be lost.
    bool risky
        = c.effective == M::event_driven_only && c.push != P::leased_message;
    CHECK(warnings.any_contains(kModeKey)
          == (c.configured != c.effective || risky));
  }
}

TEST_CASE("EventDrivenOnly is forced for a push provider, with a warning") {
  WarningCapture warnings;
  Fixture f{InMemoryPushMode::leased_message};
  f.start(DeploymentMode::hybrid);
  CHECK(f.status().effective_mode == "EventDrivenOnly");
  CHECK(warnings.any_contains(kModeKey));
  CHECK(warnings.any_contains("EventDrivenOnly"));
  // No timer: time passing reads nothing.
  f.advance(10s);
  CHECK(f.status().stats.polls == 0);
}

TEST_CASE("a Message and an Available reach the right command variant") {
  SUBCASE("notify: a small payload inline, a large one by id") {
    Fixture f{InMemoryPushMode::notify};
    f.start(DeploymentMode::event_driven_only);
    auto small = f.send(R"({"n":1})");
    auto large = f.send(R"({"n":2,"pad":")" + std::string(100, 'x') + "\"}");
    CHECK(f.log.commands
          == std::vector<std::string>{"message:" + std::to_string(small)
                                          + ":unleased",
                                      "event:" + std::to_string(large)});
    CHECK(f.log.processed == std::map<int64_t, int>{{small, 1}, {large, 1}});
    auto stats = f.status().stats;
    CHECK(stats.notifications >= 2);
    CHECK(stats.commands_routed == 2);
    CHECK(stats.in_flight == 0);
    CHECK(f.visible() == 0);
  }
  SUBCASE("push: the leased message itself") {
    Fixture f{InMemoryPushMode::leased_message};
    f.start(DeploymentMode::event_driven_only);
    auto id = f.send();
    CHECK(f.log.commands
          == std::vector<std::string>{"message:" + std::to_string(id)
                                      + ":leased"});
    CHECK(f.log.processed == std::map<int64_t, int>{{id, 1}});
  }
}

TEST_CASE("orchestration queues reach their own command variants") {
  caf::actor_system_config cfg;
  caf::actor_system sys{Fixture::prepared(cfg)};
  auto& sched
      = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  InMemoryProvider provider{
      options_for(InMemoryPushMode::notify, std::make_shared<ManualClock>())};
  const std::vector<std::string> queues{"orchestration_task_requests",
                                        "orchestration_step_results",
                                        "orchestration_task_finalizations"};
  REQUIRE(provider.ensure_queues(queues).ok());
  std::vector<std::string> seen;
  auto processor = sys.spawn(testing::recording_orchestration_processor, &seen);
  EventSystemOptions options;
  options.name = "orchestration";
  options.queues = queues;
  options.config.deployment_mode = DeploymentMode::event_driven_only;
  options.mode_key = "orchestration.event_system.deployment_mode";
  auto events = sys.spawn<OrchestrationEventSystem>(
      messaging::MessagingProvider{provider}, processor, &route_orchestration,
      options);
  sched.run();
  std::vector<std::string> expected;
  const char* inline_names[]
      = {"InitializeTaskFromMessage", "ProcessStepResultFromMessage",
         "FinalizeTaskFromMessage"};
  const char* event_names[]
      = {"InitializeTaskFromMessageEvent", "ProcessStepResultFromMessageEvent",
         "FinalizeTaskFromMessageEvent"};
  for (std::size_t i = 0; i < queues.size(); ++i) {
    auto small = provider.send(queues[i], {"{}", {}, {}});
    auto large
        = provider.send(queues[i], {std::string(100, ' ') + "{}", {}, {}});
    REQUIRE(small.ok());
    REQUIRE(large.ok());
    expected.push_back(std::string{inline_names[i]} + ":" + queues[i] + ":"
                       + std::to_string(*small));
    expected.push_back(std::string{event_names[i]} + ":" + queues[i] + ":"
                       + std::to_string(*large));
  }
  sched.run();
  CHECK(seen == expected);
  caf::anon_send_exit(events, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(processor, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_CASE("a notification the listener missed is picked up by the next poll") {
  SUBCASE("Hybrid: sent before the listener subscribed") {
    // The queue appears after start: the listener's first subscribe fails
    // and is retried after 100 ms; the message sent in between is never
    // notified.
    WarningCapture warnings;
    Fixture f{InMemoryPushMode::notify, false};
    f.start(DeploymentMode::hybrid);
    REQUIRE(f.log.provider.create_queue(kQueue).ok());
    auto id = f.send();
    CHECK(f.log.processed.empty());
    f.advance(100ms);
    auto status = f.status();
    CHECK(status.stats.notifications == 0);
    CHECK(f.log.processed.empty());
    // The listener is subscribed now: a new message is notified at once.
    auto next = f.send();
    CHECK(f.log.processed == std::map<int64_t, int>{{next, 1}});
    // The next poll (1 s after the first) reads the missed one.
    f.advance(900ms);
    CHECK(f.log.processed == std::map<int64_t, int>{{id, 1}, {next, 1}});
    CHECK(f.log.commands.back() == "message:" + std::to_string(id) + ":leased");
    status = f.status();
    CHECK(status.stats.polled_messages == 1);
    CHECK(warnings.any_contains("subscribing"));
  }
  SUBCASE("PollingOnly: no listener, every interval") {
    Fixture f{InMemoryPushMode::notify};
    f.start(DeploymentMode::polling_only);
    auto id = f.send();
    CHECK(f.log.processed.empty());
    f.advance(999ms);
    CHECK(f.log.processed.empty());
    f.advance(1ms);
    CHECK(f.log.processed == std::map<int64_t, int>{{id, 1}});
    auto stats = f.status().stats;
    CHECK(stats.notifications == 0);
    CHECK(stats.polled_messages == 1);
    CHECK(f.visible() == 0);
  }
  SUBCASE("a backlog from before start is read at start") {
    Fixture f{InMemoryPushMode::notify};
    std::vector<int64_t> ids;
    for (int i = 0; i < 45; ++i)
      ids.push_back(*f.log.provider.send(kQueue, {"{}", {}, {}}));
    f.start(DeploymentMode::hybrid);
    // Full batches of 20 are followed by another read at once.
    CHECK(f.log.processed.size() == 45);
    CHECK(f.status().stats.polls == 3);
  }
}

TEST_CASE("a message seen by both listener and poller is processed once") {
  Fixture f{InMemoryPushMode::notify};
  f.start(DeploymentMode::hybrid);
  // The processor takes its time: the listener's command for the message is
  // in flight, unclaimed, when the poll reads (and leases) it.
  f.log.hold = true;
  f.log.claim_late = true;
  auto id = f.send();
  CHECK(f.log.commands.size() == 1);
  f.advance(1s);
  CHECK(f.log.commands.size() == 2);
  CHECK(f.log.commands.back() == "message:" + std::to_string(id) + ":leased");
  f.log.finish();
  f.sched.run();
  // Both paths saw it; only one claim succeeded.
  CHECK(f.log.processed == std::map<int64_t, int>{{id, 1}});
  CHECK(f.visible() == 0);
  auto stats = f.status().stats;
  CHECK(stats.in_flight == 0);
  CHECK(stats.commands_routed == 2);
}

TEST_CASE("the in-flight limit stops intake and resumes it") {
  SUBCASE("notifications are deferred and their queue read later") {
    Fixture f{InMemoryPushMode::notify};
    f.start(DeploymentMode::hybrid, 2);
    f.log.hold = true;
    std::vector<int64_t> ids;
    for (int i = 0; i < 5; ++i)
      ids.push_back(f.send());
    CHECK(f.log.held.size() == 2);
    auto stats = f.status().stats;
    CHECK(stats.in_flight == 2);
    CHECK(stats.saturation() == doctest::Approx(1.0));
    CHECK(stats.deferred == 3);
    CHECK(stats.saturations == 1);
    // Saturated, the poller reads nothing: three messages stay visible.
    f.advance(5s);
    CHECK(f.visible() == 3);
    CHECK(f.status().stats.polled_messages == 0);
    // Capacity frees: the deferred queue is read, within the limit.
    f.log.finish(1);
    f.sched.run();
    CHECK(f.log.held.size() == 2);
    CHECK(f.visible() == 2);
    while (f.log.finish(1) > 0)
      f.sched.run();
    std::map<int64_t, int> once;
    for (auto id : ids)
      once[id] = 1;
    CHECK(f.log.processed == once);
    stats = f.status().stats;
    CHECK(stats.in_flight == 0);
    CHECK(stats.max_in_flight == 2);
  }
  SUBCASE(
      "pushed messages are parked, then handed back when the park is full") {
    Fixture f{InMemoryPushMode::leased_message};
    f.start(DeploymentMode::event_driven_only, 2);
    f.log.hold = true;
    std::vector<int64_t> ids;
    for (int i = 0; i < 5; ++i)
      ids.push_back(f.send());
    CHECK(f.log.held.size() == 2);
    auto stats = f.status().stats;
    CHECK(stats.parked == 2);
    CHECK(stats.released == 1);
    // Parked messages go first as capacity frees.
    while (f.log.finish(1) > 0)
      f.sched.run();
    CHECK(f.log.processed.size() == 4);
    // The released one is pushed again after its delay.
    f.clock->advance(1s);
    f.sched.run();
    while (f.log.finish(1) > 0)
      f.sched.run();
    std::map<int64_t, int> once;
    for (auto id : ids)
      once[id] = 1;
    CHECK(f.log.processed == once);
  }
}

TEST_CASE("shutdown stops intake, drains, and stops the actors once the "
          "processor has stopped") {
  SUBCASE("drained before the deadline") {
    Fixture f{InMemoryPushMode::leased_message};
    f.start(DeploymentMode::event_driven_only, 2);
    f.log.hold = true;
    for (int i = 0; i < 3; ++i)
      f.send();
    CHECK(f.status().stats.parked == 1);
    auto handle
        = f.self->request(f.events, caf::infinite, ShutdownEventSystem{5000});
    f.sched.run();
    // Intake is stopped: a new message is not routed, but stays leased by
    // the subscription, which lasts as long as the processor.
    f.send();
    CHECK(f.log.commands.size() == 2);
    f.log.finish();
    f.sched.run();
    auto report = testing::received<DrainReport>(handle);
    CHECK(report.drained);
    CHECK(report.abandoned == 0);
    CHECK(report.released == 0);
    f.sched.run();
    CHECK(f.event_actors() == 4);
    CHECK(f.visible() == 0);
    f.self->send_exit(f.processor, caf::exit_reason::user_shutdown);
    f.sched.run();
    CHECK(f.event_actors_with_processor_gone() == 0);
    // Nothing was lost: the parked message and the late one are visible.
    CHECK(f.visible() == 2);
  }
  SUBCASE("the deadline ends a drain that does not finish") {
    Fixture f{InMemoryPushMode::notify};
    f.start(DeploymentMode::hybrid, 10);
    f.log.hold = true;
    f.send();
    f.send();
    auto handle
        = f.self->request(f.events, caf::infinite, ShutdownEventSystem{3000});
    f.sched.run();
    f.advance(2999ms);
    CHECK(f.event_actors() > 0);
    f.advance(1ms);
    auto report = testing::received<DrainReport>(handle);
    CHECK_FALSE(report.drained);
    CHECK(report.abandoned == 2);
    CHECK(f.event_actors() == 4);
    f.self->send_exit(f.processor, caf::exit_reason::user_shutdown);
    f.sched.run();
    CHECK(f.event_actors_with_processor_gone() == 0);
  }
}
