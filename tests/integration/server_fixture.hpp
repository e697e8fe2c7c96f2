#pragma once

#include "messaging/messaging_provider.hpp"
#include "tests/integration/test_servers.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tasker::testing {

/// What the conformance fixtures on real servers share: real time passing,
/// and unique queues created through the provider and deleted afterwards.
struct ServerFixture {
  explicit ServerFixture(messaging::MessagingProvider p)
      : provider(std::move(p)) {}

  ServerFixture(const ServerFixture&) = delete;
  ServerFixture& operator=(const ServerFixture&) = delete;

  ~ServerFixture() {
    for (auto& q : created)
      (void)provider.delete_queue(q);
  }

  std::string queue(std::string_view tag) {
    auto name = unique_name("c_" + std::string{tag});
    auto made = provider.create_queue(name);
    REQUIRE_MESSAGE(made.ok(), made.error().to_string());
    created.push_back(name);
    return name;
  }

  void advance(std::chrono::milliseconds by) {
    std::this_thread::sleep_for(by);
  }

  bool eventually(const std::function<bool()>& condition) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    return true;
  }

  messaging::MessagingProvider provider;
  std::vector<std::string> created;
};

} // namespace tasker::testing
