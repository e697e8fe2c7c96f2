#include "worker/handler_registry.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using namespace tasker;
using namespace tasker::worker;

namespace {

StepOutcome ok(const StepInput&) {
  return StepOutcome::succeeded(nlohmann::json{{"ok", true}});
}

channels::StepMessage step_for(std::string callable) {
  channels::StepMessage step;
  step.task_id = "t";
  step.step_id = "s";
  step.attempt = 1;
  step.callable = std::move(callable);
  return step;
}

StepOutcome run(const HandlerRegistry& registry, const std::string& callable) {
  auto step = step_for(callable);
  std::stop_source stop;
  return registry.run(
      StepInput{step, std::chrono::steady_clock::now(), stop.get_token()});
}

TEST_CASE("the registry resolves handlers by callable") {
  HandlerRegistry registry;
  REQUIRE(registry.add("shop.charge", ok).ok());
  REQUIRE(registry
              .add("shop.refund",
                   [](const StepInput& input) {
                     return StepOutcome::succeeded(input.step().callable);
                   })
              .ok());
  CHECK(registry.find("shop.charge") != nullptr);
  CHECK(registry.find("shop.unknown") == nullptr);
  CHECK(registry.callables()
        == std::vector<std::string>{"shop.charge", "shop.refund"});
  CHECK(run(registry, "shop.refund").result == "shop.refund");
}

TEST_CASE("a callable registered twice or empty is refused, naming it") {
  HandlerRegistry registry;
  REQUIRE(registry.add("shop.charge", ok).ok());
  auto twice = registry.add("shop.charge", ok);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message()
        == "handler 'shop.charge' is registered already");
  CHECK_FALSE(registry.add("", ok).ok());
  CHECK_FALSE(registry.add("shop.empty", StepHandler{}).ok());
}

TEST_CASE("an unknown callable is a non-retryable handler_not_found") {
  HandlerRegistry registry;
  REQUIRE(registry.add("shop.charge", ok).ok());
  auto outcome = run(registry, "shop.chrge");
  CHECK_FALSE(outcome.success);
  CHECK_FALSE(outcome.retryable);
  CHECK(outcome.error_type == "handler_not_found");
  CHECK(outcome.error_message
        == "no handler is registered for callable 'shop.chrge' on this worker "
           "(did you mean 'shop.charge'?)");
  auto far = run(registry, "inventory.count");
  CHECK(far.error_message
        == "no handler is registered for callable 'inventory.count' on this "
           "worker");
}

TEST_CASE("exceptions become retryable failures naming them") {
  HandlerRegistry registry;
  REQUIRE(registry
              .add("shop.throw",
                   [](const StepInput&) -> StepOutcome {
                     throw std::out_of_range("no such item");
                   })
              .ok());
  REQUIRE(registry
              .add("shop.throw_int",
                   [](const StepInput&) -> StepOutcome {
                     throw 42;
                   })
              .ok());
  auto thrown = run(registry, "shop.throw");
  CHECK(thrown.retryable);
  CHECK(thrown.error_type == "handler_exception");
  CHECK(thrown.error_message
        == "handler 'shop.throw' threw std::out_of_range: no such item");
  auto odd = run(registry, "shop.throw_int");
  CHECK(odd.error_message
        == "handler 'shop.throw_int' threw a non-standard exception");
}

} // namespace
