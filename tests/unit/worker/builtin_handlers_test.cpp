#include "worker/builtin_handlers.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace tasker;
using namespace tasker::worker;
using nlohmann::json;

namespace {

struct Builtins {
  HandlerRegistry registry;
  std::stop_source stop;

  Builtins() {
    add_builtin_handlers(registry);
  }

  StepOutcome run(const std::string& callable, json context, json dependencies,
                  json initialization = json::object()) {
    channels::StepMessage step;
    step.task_id = "t";
    step.step_id = "s";
    step.step_name = "calc";
    step.attempt = 1;
    step.callable = callable;
    step.context = std::move(context);
    step.dependency_results = std::move(dependencies);
    step.initialization = std::move(initialization);
    return registry.run(
        StepInput{step, std::chrono::steady_clock::now(), stop.get_token()});
  }
};

json value(int64_t n) {
  return json{{"value", n}};
}

TEST_CASE_FIXTURE(Builtins, "tasker.square squares the context's input or "
                            "its single parent") {
  auto from_context = run("tasker.square", {{"even_number", 6}}, json::object(),
                          {{"input_key", "even_number"}});
  CHECK(from_context.success);
  CHECK(from_context.result == value(36));
  auto from_parent
      = run("tasker.square", json::object(), {{"start", value(36)}});
  CHECK(from_parent.result == value(1296));
}

TEST_CASE_FIXTURE(Builtins, "tasker.multiply and tasker.sum combine the "
                            "parents' values") {
  json parents{{"left", value(1296)}, {"right", value(1296)}};
  CHECK(run("tasker.multiply", json::object(), parents).result
        == value(1679616));
  json leaves{{"d", value(1)}, {"e", value(2)}, {"f", value(3)}};
  CHECK(run("tasker.sum", json::object(), leaves).result == value(6));
  CHECK(run("tasker.noop", json::object(), json::object()).result == value(0));
}

TEST_CASE_FIXTURE(Builtins, "bad inputs and overflow are non-retryable "
                            "failures naming the step and the input") {
  auto missing = run("tasker.square", {{"n", 2}}, json::object(),
                     {{"input_key", "even_number"}});
  CHECK_FALSE(missing.success);
  CHECK_FALSE(missing.retryable);
  CHECK(missing.error_type == "invalid_input");
  CHECK(missing.error_message
        == "tasker.square (step 'calc'): the context has no integer "
           "'even_number'");
  auto two = run("tasker.square", json::object(),
                 {{"a", value(1)}, {"b", value(2)}});
  CHECK(two.error_message.find("exactly one parent, found 2")
        != std::string::npos);
  auto text = run("tasker.sum", json::object(), {{"a", json{{"value", "x"}}}});
  CHECK(text.error_message
        == "tasker.sum (step 'calc'): the result of parent 'a' has no integer "
           "'value'");
  auto big = run("tasker.square", json::object(), {{"a", value(4294967296)}});
  CHECK_FALSE(big.success);
  CHECK(big.error_message.find("does not fit in a 64-bit integer")
        != std::string::npos);
}

TEST_CASE_FIXTURE(Builtins, "tasker.sleep sleeps, or stops at the stop "
                            "request") {
  auto short_sleep = run("tasker.sleep", json::object(), json::object(),
                         {{"duration_ms", 1}});
  CHECK(short_sleep.success);
  CHECK(short_sleep.result == json{{"slept_ms", 1}});
  stop.request_stop();
  auto stopped = run("tasker.sleep", json::object(), json::object(),
                     {{"duration_ms", 3600000}});
  CHECK_FALSE(stopped.success);
  CHECK(stopped.error_type == "handler_timeout");
  CHECK(run("tasker.sleep", json::object(), json::object()).error_type
        == "invalid_input");
}

} // namespace
