#pragma once

#include <caf/error.hpp>

#include <doctest/doctest.h>

#include <utility>

namespace tasker::testing {

/// Reads the reply of type `T` a request handle (of a scoped actor) waits
/// for; an error reply fails the test, naming it. On the test coordinator,
/// run the scheduler first: the reply must be in the mailbox.
template <class T, class Handle>
T received(Handle& handle) {
  T out;
  handle.receive(
      [&](T& reply) {
        out = std::move(reply);
      },
      [&](caf::error& err) {
        FAIL(caf::to_string(err));
      });
  return out;
}

} // namespace tasker::testing
