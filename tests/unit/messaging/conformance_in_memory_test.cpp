// The messaging conformance suite against the in-memory provider, once per
// push mode, on a manual clock (no sleeps).

#include "tests/conformance/messaging_conformance.hpp"

#include <memory>
#include <tuple>

namespace {

using namespace tasker::messaging;
using tasker::testing::PushStyle;

template <InMemoryPushMode Mode, PushStyle Style>
struct InMemoryFixture {
  static constexpr bool can_break_connections = false;
  static constexpr PushStyle push_style = Style;
  static constexpr std::size_t inline_limit = 7000;

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  MessagingProvider provider{InMemoryProvider{options(clock)}};
  int next_queue = 0;

  static InMemoryOptions options(std::shared_ptr<ManualClock> clock) {
    InMemoryOptions o;
    o.max_deliveries = 3;
    o.push_mode = Mode;
    o.inline_payload_limit = inline_limit;
    o.manual_clock = std::move(clock);
    return o;
  }

  std::string queue(std::string_view tag) {
    auto name = "conf_" + std::string{tag} + "_" + std::to_string(++next_queue);
    REQUIRE(provider.create_queue(name).ok());
    return name;
  }

  void advance(std::chrono::milliseconds by) {
    clock->advance(by);
  }

  // Deliveries are synchronous on a manual clock: no waiting.
  bool eventually(const std::function<bool()>& condition) {
    return condition();
  }

  void break_connections() {}
};

using LeasedFixture = InMemoryFixture<InMemoryPushMode::leased_message,
                                      PushStyle::leased_message>;
using NotifyFixture
    = InMemoryFixture<InMemoryPushMode::notify, PushStyle::notify>;
using SignalFixture
    = InMemoryFixture<InMemoryPushMode::signal, PushStyle::signal>;

} // namespace

TEST_CASE_TEMPLATE_APPLY(
    messaging_conformance,
    std::tuple<LeasedFixture, NotifyFixture, SignalFixture>);
