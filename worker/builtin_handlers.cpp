#include "worker/builtin_handlers.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tasker::worker {

namespace {

using nlohmann::json;

// A failure the next attempt would repeat.
StepOutcome bad_input(const StepInput& input, const std::string& why) {
  return StepOutcome::failed(input.step().callable + " (step '"
                                 + input.step().step_name + "'): " + why,
                             false, {}, "invalid_input");
}

// The integer `value` of each parent's result, in name order.
core::Result<std::vector<int64_t>> parent_values(const StepInput& input) {
  std::vector<int64_t> values;
  for (const auto& [parent, result] : input.dependency_results().items()) {
    auto value = result.is_object() ? result.find("value") : result.end();
    if (!result.is_object() || value == result.end()
        || !value->is_number_integer())
      return core::Error{core::ErrorCode::invalid_argument,
                         "the result of parent '" + parent
                             + "' has no integer 'value'"};
    values.push_back(value->get<int64_t>());
  }
  return values;
}

StepOutcome value_or_overflow(const StepInput& input,
                              std::optional<int64_t> value) {
  if (!value)
    return bad_input(input, "the result does not fit in a 64-bit integer");
  return StepOutcome::succeeded(json{{"value", *value}});
}

std::optional<int64_t> checked_multiply(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out))
    return std::nullopt;
  return out;
}

StepOutcome square(const StepInput& input) {
  int64_t operand = 0;
  const auto& init = input.initialization();
  if (auto key = init.find("input_key"); key != init.end()) {
    if (!key->is_string())
      return bad_input(input, "initialization.input_key must be a string");
    auto name = key->get<std::string>();
    auto field = input.context().is_object() ? input.context().find(name)
                                             : input.context().end();
    if (field == input.context().end() || !field->is_number_integer())
      return bad_input(input, "the context has no integer '" + name + "'");
    operand = field->get<int64_t>();
  } else {
    auto values = parent_values(input);
    if (!values)
      return bad_input(input, values.error().message());
    if (values->size() != 1)
      return bad_input(input, "needs initialization.input_key or exactly one "
                              "parent, found "
                                  + std::to_string(values->size())
                                  + " parents");
    operand = values->front();
  }
  return value_or_overflow(input, checked_multiply(operand, operand));
}

StepOutcome multiply(const StepInput& input) {
  auto values = parent_values(input);
  if (!values)
    return bad_input(input, values.error().message());
  if (values->empty())
    return bad_input(input, "needs at least one parent");
  std::optional<int64_t> product = 1;
  for (auto v : *values)
    if (product)
      product = checked_multiply(*product, v);
  return value_or_overflow(input, product);
}

StepOutcome sum(const StepInput& input) {
  auto values = parent_values(input);
  if (!values)
    return bad_input(input, values.error().message());
  std::optional<int64_t> total = 0;
  for (auto v : *values) {
    int64_t next = 0;
    if (total && !__builtin_add_overflow(*total, v, &next))
      total = next;
    else
      total = std::nullopt;
  }
  return value_or_overflow(input, total);
}

StepOutcome sleep(const StepInput& input) {
  const json* source = &input.initialization();
  if (!source->contains("duration_ms"))
    source = &input.context();
  auto field
      = source->is_object() ? source->find("duration_ms") : source->end();
  if (field == source->end() || !field->is_number_integer()
      || field->get<int64_t>() < 0)
    return bad_input(input, "needs a non-negative integer duration_ms in "
                            "initialization or context");
  auto duration = std::chrono::milliseconds{field->get<int64_t>()};
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock<std::mutex> lock{mutex};
  // Wakes early only when the worker requests a stop (the step's timeout).
  wake.wait_for(lock, input.stop_token(), duration, [] {
    return false;
  });
  if (input.stop_requested())
    return StepOutcome::failed("tasker.sleep stopped at the step's timeout",
                               true, {}, "handler_timeout");
  return StepOutcome::succeeded(json{{"slept_ms", duration.count()}});
}

} // namespace

void add_builtin_handlers(HandlerRegistry& registry) {
  for (auto& [callable, handler] :
       std::vector<std::pair<std::string, StepHandler>>{
           {"tasker.square", square},
           {"tasker.multiply", multiply},
           {"tasker.sum", sum},
           {"tasker.noop",
            [](const StepInput&) {
              return StepOutcome::succeeded(json{{"value", 0}});
            }},
           {"tasker.sleep", sleep}})
    if (!registry.find(callable))
      (void)registry.add(callable, handler);
}

} // namespace tasker::worker
