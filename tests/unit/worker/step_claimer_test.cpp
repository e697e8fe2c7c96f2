#include "worker/step_claimer.hpp"

#include "messaging/in_memory/in_memory_provider.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace tasker;
using namespace tasker::worker;
using namespace std::chrono_literals;

TEST_CASE("a claim by id takes a visible message and leaves others' alone") {
  messaging::MessagingProvider provider{messaging::InMemoryProvider{}};
  REQUIRE(provider.ensure_queues({"steps"}).ok());
  auto first = provider.send("steps", {R"({"n":1})", {}, {}});
  auto second = provider.send("steps", {R"({"n":2})", {}, {}});
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(provider.read_by_id("steps", *second, 30s)->has_value());

  StepClaimer claimer{provider, 30s};
  auto got = claimer.claim("steps", *first);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->id == *first);
  CHECK((*got)->payload == R"({"n":1})");
  // Claimed now: a second claim finds it invisible, as it finds the one
  // another claim holds.
  CHECK_FALSE(claimer.claim("steps", *first)->has_value());
  CHECK_FALSE(claimer.claim("steps", *second)->has_value());
  CHECK(claimer.calls() == 3);
}

TEST_CASE("claims of several ids are answered each with its own message") {
  messaging::MessagingProvider provider{messaging::InMemoryProvider{}};
  REQUIRE(provider.ensure_queues({"steps"}).ok());
  auto first = provider.send("steps", {R"({"n":1})", {}, {}});
  auto second = provider.send("steps", {R"({"n":2})", {}, {}});
  auto third = provider.send("steps", {R"({"n":3})", {}, {}});
  REQUIRE(provider.read_by_id("steps", *second, 30s)->has_value());
  // The facade claims id by id where the provider has no batch claim.
  auto claimed
      = provider.read_by_ids("steps", {*third, *second, *first, 999}, 30s);
  REQUIRE(claimed.ok());
  REQUIRE(claimed->size() == 2);
  CHECK(claimed->at(0).id == *third);
  CHECK(claimed->at(1).id == *first);
  CHECK_FALSE(provider.read_by_ids("missing", {*first}, 30s).ok());
}
