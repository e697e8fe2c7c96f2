#include "worker/handler_registry.hpp"

#include "core/edit_distance.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

namespace tasker::worker {

namespace {

// "std::runtime_error" rather than "St13runtime_error".
std::string type_name_of(const std::exception& e) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name{
      abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status),
      &std::free};
  return status == 0 && name ? std::string{name.get()} : typeid(e).name();
}

} // namespace

core::Result<void> HandlerRegistry::add(std::string callable,
                                        StepHandler handler) {
  if (callable.empty())
    return core::Error{core::ErrorCode::invalid_argument,
                       "a handler needs a non-empty callable"};
  if (!handler)
    return core::Error{core::ErrorCode::invalid_argument,
                       "handler '" + callable + "' is empty"};
  if (handlers_.contains(callable))
    return core::Error{core::ErrorCode::invalid_argument,
                       "handler '" + callable + "' is registered already"};
  handlers_.emplace(std::move(callable), std::move(handler));
  return {};
}

const StepHandler* HandlerRegistry::find(std::string_view callable) const {
  auto i = handlers_.find(callable);
  return i == handlers_.end() ? nullptr : &i->second;
}

std::vector<std::string> HandlerRegistry::callables() const {
  std::vector<std::string> out;
  out.reserve(handlers_.size());
  for (const auto& entry : handlers_)
    out.push_back(entry.first);
  return out;
}

StepOutcome HandlerRegistry::run(const StepInput& input) const {
  const auto& callable = input.step().callable;
  const auto* handler = find(callable);
  if (!handler) {
    std::string message = "no handler is registered for callable '" + callable
                          + "' on this worker";
    if (auto near = core::closest_match(callable, callables()); !near.empty())
      message += " (did you mean '" + near + "'?)";
    return StepOutcome::failed(std::move(message), false, {},
                               "handler_not_found");
  }
  try {
    return (*handler)(input);
  } catch (const std::exception& e) {
    return StepOutcome::failed("handler '" + callable + "' threw "
                                   + type_name_of(e) + ": " + e.what(),
                               true, {}, "handler_exception");
  } catch (...) {
    return StepOutcome::failed("handler '" + callable
                                   + "' threw a non-standard exception",
                               true, {}, "handler_exception");
  }
}

} // namespace tasker::worker
