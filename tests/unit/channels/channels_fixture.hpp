#pragma once

#include "channels/actor_system_setup.hpp"
#include "messaging/queued_message.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

namespace tasker::channels::test {

/// An actor system configured like production, on the deterministic test
/// coordinator.
struct ChannelsFixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  ChannelsFixture() : sys{prepared(cfg)} {}

  static caf::actor_system_config& prepared(caf::actor_system_config& cfg) {
    configure_actor_system(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  /// Serializes `value` with CAF's binary serializer and reads it back.
  template <class T>
  T binary_round_trip(T value) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    REQUIRE_FALSE(sink(value));
    T out{};
    caf::binary_deserializer source{sys, buf};
    REQUIRE_FALSE(source(out));
    CHECK(source.remaining() == 0);
    return out;
  }

  /// Wraps `value` in a `caf::message`, serializes the message (type name
  /// and all) and reads it back: needs the type registered in the block.
  template <class T>
  T message_round_trip(const T& value) {
    caf::message msg = caf::make_message(value);
    REQUIRE(msg.match_elements<T>());
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    REQUIRE_FALSE(sink(msg));
    caf::message out;
    caf::binary_deserializer source{sys, buf};
    REQUIRE_FALSE(source(out));
    REQUIRE(out.match_elements<T>());
    return out.get_as<T>(0);
  }
};

/// A queued message with every field set to a non-default value, time points
/// at nanosecond precision.
inline messaging::QueuedMessage sample_message(std::string queue) {
  using std::chrono::nanoseconds;
  messaging::QueuedMessage msg;
  msg.queue = std::move(queue);
  msg.id = 4'242;
  msg.delivery_count = 3;
  msg.enqueued_at
      = messaging::Clock::time_point{nanoseconds{1'700'000'000'123'456'789}};
  msg.visible_at
      = messaging::Clock::time_point{nanoseconds{1'700'000'030'123'456'789}};
  msg.leased = false;
  msg.payload = R"({"task_id":"0190d5a2-7c1e-7000-8000-000000000001"})";
  msg.headers = {{"correlation_id", "c-1"}, {"content_type", "json"}};
  return msg;
}

/// Compares every field of two queued messages.
inline bool same_message(const messaging::QueuedMessage& x,
                         const messaging::QueuedMessage& y) {
  return x.queue == y.queue && x.id == y.id
         && x.delivery_count == y.delivery_count
         && x.enqueued_at == y.enqueued_at && x.visible_at == y.visible_at
         && x.leased == y.leased && x.payload == y.payload
         && x.headers == y.headers;
}

} // namespace tasker::channels::test
