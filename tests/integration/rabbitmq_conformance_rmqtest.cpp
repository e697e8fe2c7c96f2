// The messaging conformance suite against the RabbitMQ provider on a real
// broker (TASKER_TEST_RABBITMQ_URL). Time passes for real here.

#include "messaging/rabbitmq/rabbitmq_provider.hpp"
#include "tests/conformance/messaging_conformance.hpp"
#include "tests/integration/server_fixture.hpp"

#include <thread>
#include <tuple>

namespace {

using namespace tasker::messaging;
using tasker::testing::PushStyle;

RabbitMqProvider connect_provider(QueueType queue_type) {
  RabbitMqOptions options;
  options.queue_type = queue_type;
  options.url = tasker::testing::rabbitmq_url();
  options.max_deliveries = 3;
  options.connect_retries = 3;
  options.reconnect_initial_backoff = std::chrono::milliseconds{100};
  auto provider = RabbitMqProvider::connect(options);
  REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
  return std::move(*provider);
}

template <QueueType Type>
struct RabbitMqFixture : tasker::testing::ServerFixture {
  static constexpr bool can_break_connections = true;
  static constexpr PushStyle push_style = PushStyle::leased_message;
  static constexpr std::size_t inline_limit = 7000;

  RabbitMqFixture()
      : ServerFixture{MessagingProvider{connect_provider(Type)}} {}

  // The broker closes every client connection, the provider's included.
  void break_connections() {
    REQUIRE(tasker::testing::rabbitmqctl(
                "close_all_connections 'conformance: broken on purpose'")
            == 0);
  }
};

} // namespace

// Quorum queues, and classic ones, whose redeliveries the provider counts
// itself.
TEST_CASE_TEMPLATE_APPLY(messaging_conformance,
                         std::tuple<RabbitMqFixture<QueueType::quorum>,
                                    RabbitMqFixture<QueueType::classic>>);
