// The messaging conformance suite against the PGMQ provider on a real
// PostgreSQL (TASKER_TEST_DATABASE_URL). Time passes for real here.

#include "tests/conformance/messaging_conformance.hpp"
#include "tests/integration/test_servers.hpp"

#include <pqxx/pqxx>

#include <thread>
#include <tuple>

namespace {

using namespace tasker::messaging;
using tasker::testing::PushStyle;

PgmqProvider connect_provider() {
  PgmqOptions options;
  options.url = tasker::test::database_url();
  options.pool_size = 4;
  options.max_deliveries = 3;
  auto provider = PgmqProvider::connect(options);
  REQUIRE_MESSAGE(provider.ok(), provider.error().to_string());
  return std::move(*provider);
}

struct PgmqFixture {
  static constexpr bool can_break_connections = true;
  static constexpr PushStyle push_style = PushStyle::notify;
  static constexpr std::size_t inline_limit = 7000;

  MessagingProvider provider{connect_provider()};
  std::vector<std::string> created;

  ~PgmqFixture() {
    for (auto& q : created)
      (void)provider.delete_queue(q);
  }

  std::string queue(std::string_view tag) {
    auto name = tasker::test::unique_name("c_" + std::string{tag});
    REQUIRE(provider.create_queue(name).ok());
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

  // Terminates every other client backend of the test database: the
  // provider's pooled connections and its listener.
  void break_connections() {
    pqxx::connection admin{tasker::test::database_url()};
    pqxx::nontransaction tx{admin};
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'");
  }
};

} // namespace

TEST_CASE_TEMPLATE_APPLY(messaging_conformance, std::tuple<PgmqFixture>);
