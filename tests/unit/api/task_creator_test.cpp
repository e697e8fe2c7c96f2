// The API's task creator on CAF's test coordinator, against a processor
// that answers at once, later, or never.

#include "api/task_creator.hpp"
#include "channels/actor_system_setup.hpp"

#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace tasker;
using namespace std::chrono_literals;

namespace {

// What a creation's callback was given: a task id, or an error.
struct Answers {
  std::vector<std::string> got;

  api::TaskCreator::Done callback() {
    return [this](caf::expected<channels::TaskInitialized> initialized) {
      if (!initialized)
        got.push_back(initialized.error() == caf::sec::request_timeout
                          ? "timeout"
                          : "error");
      else
        got.push_back(initialized->task_id);
    };
  }
};

channels::InitializeTask named(const std::string& name) {
  channels::InitializeTask command;
  command.request.name = name;
  return command;
}

struct Fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  // Requests the fake processor holds instead of answering.
  std::vector<caf::response_promise> held;
  caf::actor processor;

  Fixture()
      : sys{prepared(cfg)}, sched{
                                dynamic_cast<caf::scheduler::test_coordinator&>(
                                    sys.scheduler())} {
    // Answers "now-*" at once with the name as the task id, fails "bad",
    // holds the rest; a string answers the oldest held one with that id.
    processor = sys.spawn([this](
                              caf::event_based_actor* self) -> caf::behavior {
      return {
          [this, self](channels::InitializeTask& command)
              -> caf::result<channels::TaskInitialized> {
            const auto& name = command.request.name;
            if (name.rfind("now-", 0) == 0)
              return channels::TaskInitialized{name, true, ""};
            if (name == "bad")
              return caf::make_error(caf::sec::unexpected_message);
            held.push_back(self->make_response_promise());
            return caf::delegated<channels::TaskInitialized>{};
          },
          [this](std::string& task_id) {
            held.front().deliver(channels::TaskInitialized{task_id, true, ""});
            held.erase(held.begin());
          },
      };
    });
  }

  ~Fixture() {
    caf::anon_send_exit(processor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // Moves the clock; the timers due run.
  void advance(caf::timespan by) {
    sched.advance_time(by);
    sched.run();
  }

  // Has the processor answer its oldest held request with `task_id`.
  void release(const std::string& task_id) {
    caf::anon_send(processor, task_id);
    sched.run();
  }

  static caf::actor_system_config& prepared(caf::actor_system_config& cfg) {
    channels::configure_actor_system(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }
};

} // namespace

TEST_CASE("the creator hands each answer of the processor to its creation's "
          "callback, once") {
  Fixture f;
  Answers answers;
  {
    api::TaskCreator creator{f.sys, f.processor, {10s, 250ms}};
    creator.create(named("now-1"), answers.callback());
    creator.create(named("now-2"), answers.callback());
    creator.create(named("bad"), answers.callback());
    f.sched.run();
    CHECK(answers.got == std::vector<std::string>{"now-1", "now-2", "error"});
    // Answered later, still within its deadline.
    creator.create(named("later"), answers.callback());
    f.sched.run();
    REQUIRE(f.held.size() == 1);
    f.advance(5s);
    f.release("later");
    CHECK(answers.got.back() == "later");
    CHECK(answers.got.size() == 4);
  }
  f.sched.run();
  CHECK(answers.got.size() == 4);
}

TEST_CASE("a creation past its deadline is answered with a timeout, its late "
          "answer dropped; stopping answers those still waiting") {
  Fixture f;
  Answers answers;
  {
    api::TaskCreator creator{f.sys, f.processor, {2s, 250ms}};
    creator.create(named("slow"), answers.callback());
    f.sched.run();
    f.advance(1s);
    creator.create(named("slower"), answers.callback());
    f.sched.run();
    REQUIRE(f.held.size() == 2);
    f.advance(750ms);
    CHECK(answers.got.empty());
    // The first one's deadline passes; the second still waits.
    f.advance(500ms);
    CHECK(answers.got == std::vector<std::string>{"timeout"});
    f.release("slow");
    CHECK(answers.got == std::vector<std::string>{"timeout"});
    creator.create(named("waiting"), answers.callback());
    f.sched.run();
    CHECK(answers.got.size() == 1);
  }
  // Destroyed with two creations waiting: both answered.
  CHECK(answers.got
        == std::vector<std::string>{"timeout", "timeout", "timeout"});
  f.sched.run();
  f.release("slower");
  CHECK(answers.got.size() == 3);
}
