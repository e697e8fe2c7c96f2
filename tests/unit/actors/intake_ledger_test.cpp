#include "actors/intake_ledger.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using tasker::actors::Admission;
using tasker::actors::IntakeLedger;
using tasker::messaging::QueuedMessage;

namespace {

QueuedMessage leased(int64_t id) {
  // From a named string: GCC 12 warns falsely (-Wrestrict) on the literal.
  const std::string queue = "q";
  QueuedMessage m;
  m.queue = queue;
  m.id = id;
  m.leased = true;
  return m;
}

} // namespace

TEST_CASE("the limit bounds what is in flight and reserved together") {
  IntakeLedger ledger{3};
  CHECK(ledger.admit_unleased("q", 1) == Admission::route);
  CHECK(ledger.reserve("q", 5, true).granted == 2);
  CHECK(ledger.available() == 0);
  CHECK(ledger.admit_unleased("q", 2) == Admission::defer);
  CHECK(ledger.reserve("r", 1, true).granted == 0);
  CHECK(ledger.admit_polled("q", 3) == Admission::route);
  ledger.unreserve(1);
  CHECK(ledger.in_flight() == 2);
  CHECK(ledger.available() == 1);
  auto stats = ledger.snapshot();
  CHECK(stats.saturations == 1);
  CHECK(stats.deferred == 1);
  CHECK(stats.max_in_flight == 2);
  CHECK(stats.limit == 3);
  // Room again: both deferred queues come out once.
  CHECK(ledger.take_deferred() == std::vector<std::string>{"q", "r"});
  CHECK(ledger.take_deferred().empty());
}

TEST_CASE("deferred notifications are claimed by id, oldest first, and new "
          "ones wait behind them") {
  IntakeLedger ledger{1};
  CHECK(ledger.admit_unleased("q", 1) == Admission::route);
  CHECK(ledger.admit_unleased("q", 2) == Admission::defer);
  CHECK_FALSE(ledger.complete("q", 1));
  // Room again, but message 2 waits in the queue: 3 must not overtake it.
  CHECK(ledger.admit_unleased("q", 3) == Admission::defer);
  CHECK(ledger.admit_unleased("other", 4) == Admission::route);
  CHECK_FALSE(ledger.complete("other", 4));
  CHECK(ledger.take_deferred() == std::vector<std::string>{"q"});
  auto grant = ledger.reserve("q", 5, false);
  CHECK(grant.granted == 1);
  CHECK(grant.ids == std::vector<int64_t>{2});
  CHECK_FALSE(grant.scan);
  CHECK(ledger.admit_polled("q", 2) == Admission::route);
  ledger.polled("q", 1, 1, false);
  CHECK_FALSE(ledger.complete("q", 2));
  // Message 3's id is still kept: the queue comes out again, 5 waits.
  CHECK(ledger.take_deferred() == std::vector<std::string>{"q"});
  CHECK(ledger.admit_unleased("q", 5) == Admission::defer);
  grant = ledger.reserve("q", 5, false);
  CHECK(grant.ids == std::vector<int64_t>{3});
  CHECK(ledger.admit_polled("q", 3) == Admission::route);
  ledger.polled("q", 1, 1, false);
  CHECK_FALSE(ledger.complete("q", 3));
  grant = ledger.reserve("q", 5, false);
  CHECK(grant.ids == std::vector<int64_t>{5});
  // Message 5 was gone (another worker took it): nothing read, no backlog.
  ledger.unreserve(1);
  ledger.polled("q", 1, 0, false);
  CHECK(ledger.take_deferred() == std::vector<std::string>{"q"});
  CHECK(ledger.reserve("q", 5, false).granted == 0); // nothing to read
  CHECK(ledger.admit_unleased("q", 6) == Admission::route);
}

TEST_CASE("a poll scans the queue only when asked to or when ids were "
          "not kept") {
  IntakeLedger ledger{2};
  CHECK(ledger.reserve("q", 1, false).granted == 0);
  CHECK(ledger.available() == 2);
  auto grant = ledger.reserve("q", 1, true);
  CHECK(grant.granted == 1);
  CHECK(grant.ids.empty());
  CHECK(grant.scan);
  CHECK(ledger.admit_polled("q", 1) == Admission::route);
  ledger.polled("q", 1, 1, true);
  CHECK(ledger.admit_unleased("q", 2) == Admission::route);
  CHECK(ledger.admit_unleased("q", 3) == Admission::defer);
  // Saturated, the timer's scan is put off: the backlog is not known.
  CHECK(ledger.reserve("q", 5, true).granted == 0);
  CHECK_FALSE(ledger.complete("q", 1));
  grant = ledger.reserve("q", 5, false);
  CHECK(grant.ids == std::vector<int64_t>{3});
  CHECK(grant.scan);
  CHECK(grant.granted == 1);
}

TEST_CASE("a deferred id that a scan claimed meanwhile is not claimed again") {
  IntakeLedger ledger{2};
  CHECK(ledger.admit_unleased("q", 1) == Admission::route);
  CHECK(ledger.admit_unleased("q", 2) == Admission::route);
  CHECK(ledger.admit_unleased("q", 3) == Admission::defer);
  CHECK_FALSE(ledger.complete("q", 1));
  CHECK_FALSE(ledger.complete("q", 2));
  auto grant = ledger.reserve("q", 5, true);
  CHECK(grant.ids == std::vector<int64_t>{3});
  CHECK(grant.granted == 2);
  // Notified while the poll reads, and read by its scan.
  CHECK(ledger.admit_unleased("q", 4) == Admission::defer);
  CHECK(ledger.admit_polled("q", 3) == Admission::route);
  CHECK(ledger.admit_polled("q", 4) == Admission::route);
  ledger.polled("q", 2, 2, true);
  CHECK_FALSE(ledger.complete("q", 3));
  grant = ledger.reserve("q", 5, false);
  CHECK(grant.granted == 0);
  CHECK(grant.ids.empty());
}

TEST_CASE("past the kept ids' bound, the backlog is unknown until a scan "
          "finds the queue's end") {
  IntakeLedger ledger{1};
  const auto bound = ledger.max_deferred_ids();
  CHECK(bound == 1024);
  CHECK(ledger.admit_unleased("q", 0) == Admission::route);
  for (int64_t id = 1; id <= bound + 2; ++id)
    CHECK(ledger.admit_unleased("q", id) == Admission::defer);
  CHECK_FALSE(ledger.complete("q", 0));
  for (int64_t id = 1; id <= bound; ++id) {
    auto grant = ledger.reserve("q", 1, false);
    REQUIRE(grant.ids == std::vector<int64_t>{id});
    CHECK(grant.scan); // ids beyond the bound are not known
    CHECK(ledger.admit_polled("q", id) == Admission::route);
    ledger.polled("q", 1, 1, true);
    CHECK_FALSE(ledger.complete("q", id));
  }
  auto grant = ledger.reserve("q", 1, false);
  CHECK(grant.ids.empty());
  CHECK(grant.scan);
  CHECK(ledger.admit_polled("q", bound + 1) == Admission::route);
  ledger.polled("q", 1, 1, true);
  CHECK(ledger.admit_unleased("q", bound + 3) == Admission::defer);
  CHECK_FALSE(ledger.complete("q", bound + 1));
  grant = ledger.reserve("q", 1, false);
  CHECK(grant.ids == std::vector<int64_t>{bound + 3});
  CHECK(grant.scan);
  CHECK(ledger.admit_polled("q", bound + 3) == Admission::route);
  ledger.polled("q", 1, 1, true);
  CHECK_FALSE(ledger.complete("q", bound + 3));
  grant = ledger.reserve("q", 1, false);
  CHECK(grant.ids.empty());
  CHECK(ledger.admit_polled("q", bound + 2) == Admission::route);
  ledger.polled("q", 1, 1, true);
  CHECK_FALSE(ledger.complete("q", bound + 2));
  grant = ledger.reserve("q", 1, false);
  ledger.unreserve(1);
  ledger.polled("q", 1, 0, true); // the scan found the end
  CHECK(ledger.admit_unleased("q", bound + 4) == Admission::route);
}

TEST_CASE("an unleased copy of a message in flight is a duplicate") {
  IntakeLedger ledger{10};
  CHECK(ledger.admit_unleased("q", 7) == Admission::route);
  CHECK(ledger.admit_unleased("q", 7) == Admission::duplicate);
  CHECK(ledger.admit_unleased("other", 7) == Admission::route);
  // A leased copy holds the lease: it is routed, never dropped.
  CHECK(ledger.admit_leased(leased(7)) == Admission::route);
  CHECK(ledger.snapshot().duplicates == 1);
  CHECK_FALSE(ledger.complete("q", 7));
  // The last command for it answers: it was notified again meanwhile.
  CHECK(ledger.complete("q", 7));
  CHECK_FALSE(ledger.complete("other", 7));
  CHECK(ledger.idle());
  CHECK(ledger.admit_unleased("q", 7) == Admission::route);
}

TEST_CASE("saturated, leased messages park up to the limit, then release") {
  IntakeLedger ledger{2};
  CHECK(ledger.admit_leased(leased(1)) == Admission::route);
  CHECK(ledger.admit_leased(leased(2)) == Admission::route);
  CHECK(ledger.admit_leased(leased(3)) == Admission::park);
  CHECK(ledger.admit_leased(leased(4)) == Admission::park);
  CHECK(ledger.admit_leased(leased(5)) == Admission::release);
  CHECK(ledger.snapshot().parked == 2);
  CHECK(ledger.snapshot().released == 1);
  CHECK_FALSE(ledger.unpark().has_value());
  ledger.complete("q", 1);
  auto next = ledger.unpark();
  REQUIRE(next.has_value());
  CHECK(next->id == 3);
  CHECK_FALSE(ledger.unpark().has_value());
  CHECK(ledger.in_flight() == 2);
}

TEST_CASE("draining admits nothing and leaves parked and new leased "
          "messages to their subscription") {
  IntakeLedger ledger{1};
  CHECK(ledger.admit_leased(leased(1)) == Admission::route);
  CHECK(ledger.admit_leased(leased(2)) == Admission::park);
  ledger.start_drain();
  CHECK_FALSE(ledger.unpark().has_value());
  CHECK(ledger.admit_leased(leased(3)) == Admission::hold);
  CHECK(ledger.admit_unleased("q", 4) == Admission::defer);
  CHECK(ledger.reserve("q", 10, true).granted == 0);
  CHECK(ledger.take_deferred().empty());
  CHECK_FALSE(ledger.idle());
  ledger.complete("q", 1);
  CHECK(ledger.idle());
  CHECK(ledger.snapshot().released == 0);
}
