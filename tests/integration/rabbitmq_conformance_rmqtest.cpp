// The messaging conformance suite against the RabbitMQ provider on a real
// broker (TASKER_TEST_RABBITMQ_URL). Time passes for real here.

#include "messaging/rabbitmq/rabbitmq_provider.hpp"
#include "tests/conformance/messaging_conformance.hpp"
#include "tests/integration/test_servers.hpp"

#include <thread>
#include <tuple>

namespace {

using namespace tasker::messaging;
using tasker::testing::PushStyle;

RabbitMqProvider connect_provider() {
  RabbitMqOptions options;
  options.url = tasker::test::rabbitmq_url();
  options.max_deliveries = 3;
  options.connect_retries = 3;
  options.reconnect_initial_backoff = std::chrono::milliseconds{100};
  auto provider = RabbitMqProvider::connect(options);
  REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
  return std::move(*provider);
}

struct RabbitMqFixture {
  static constexpr bool can_break_connections = true;
  static constexpr PushStyle push_style = PushStyle::leased_message;
  static constexpr std::size_t inline_limit = 7000;

  MessagingProvider provider{connect_provider()};
  std::vector<std::string> created;

  ~RabbitMqFixture() {
    for (auto& q : created)
      (void)provider.delete_queue(q);
  }

  std::string queue(std::string_view tag) {
    auto name = tasker::test::unique_name("c_" + std::string{tag});
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

  // The broker closes every client connection, the provider's included.
  void break_connections() {
    REQUIRE(tasker::test::rabbitmqctl(
                "close_all_connections 'conformance: broken on purpose'")
            == 0);
  }
};

} // namespace

TEST_CASE_TEMPLATE_APPLY(messaging_conformance, std::tuple<RabbitMqFixture>);
