// The messaging conformance suite against the PGMQ provider on a real
// PostgreSQL (TASKER_TEST_DATABASE_URL). Time passes for real here.

#include "tests/conformance/messaging_conformance.hpp"
#include "tests/integration/server_fixture.hpp"

#include "tests/integration/pg_admin.hpp"

#include <thread>
#include <tuple>

namespace {

using namespace tasker::messaging;
using tasker::testing::PushStyle;

// Every connection of the fixture's provider carries this name, so that
// break_connections hits them and nothing else using the test database.
const std::string kApplication = tasker::testing::unique_name("conformance");

PgmqProvider connect_provider() {
  PgmqOptions options;
  options.url = tasker::testing::with_application_name(
      tasker::testing::database_url(), kApplication);
  options.pool_size = 4;
  options.max_deliveries = 3;
  auto provider = PgmqProvider::connect(options);
  REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
  return std::move(*provider);
}

struct PgmqFixture : tasker::testing::ServerFixture {
  static constexpr bool can_break_connections = true;
  static constexpr PushStyle push_style = PushStyle::notify;
  static constexpr std::size_t inline_limit = 7000;

  PgmqFixture() : ServerFixture{MessagingProvider{connect_provider()}} {}

  // Terminates the provider's backends: its pooled connections and its
  // listener.
  void break_connections() {
    REQUIRE(tasker::testing::terminate_backends_of(kApplication) >= 1);
  }
};

} // namespace

TEST_CASE_TEMPLATE_APPLY(messaging_conformance, std::tuple<PgmqFixture>);
