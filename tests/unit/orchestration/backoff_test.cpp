#include "orchestration/backoff.hpp"
#include "orchestration/jitter_source.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

using std::chrono::milliseconds;
using tasker::config::BackoffKind;
using tasker::config::RetryPolicy;
using tasker::orchestration::JitterSource;
using tasker::orchestration::retry_delay;

namespace {

constexpr int64_t kMaxMs = std::numeric_limits<int64_t>::max();
const double kAlmostOne = std::nextafter(1.0, 0.0);

RetryPolicy policy(BackoffKind kind, int64_t base, int64_t cap,
                   int32_t jitter_percent = 0) {
  RetryPolicy p;
  p.backoff = kind;
  p.backoff_base_ms = base;
  p.max_backoff_ms = cap;
  p.jitter_percent = jitter_percent;
  return p;
}

// The delays after attempts 1..6, without hint or jitter.
std::vector<int64_t> first_six(const RetryPolicy& p) {
  std::vector<int64_t> out;
  for (int32_t n = 1; n <= 6; ++n)
    out.push_back(retry_delay(p, n, std::nullopt, 0.5).count());
  return out;
}

} // namespace

TEST_CASE("each backoff kind grows as documented over six attempts") {
  CHECK(first_six(policy(BackoffKind::none, 100, 100000))
        == std::vector<int64_t>{0, 0, 0, 0, 0, 0});
  CHECK(first_six(policy(BackoffKind::linear, 100, 100000))
        == std::vector<int64_t>{100, 200, 300, 400, 500, 600});
  CHECK(first_six(policy(BackoffKind::exponential, 100, 100000))
        == std::vector<int64_t>{100, 200, 400, 800, 1600, 3200});
  CHECK(first_six(policy(BackoffKind::fibonacci, 100, 100000))
        == std::vector<int64_t>{100, 100, 200, 300, 500, 800});
}

TEST_CASE("an attempt count below one counts as one") {
  auto p = policy(BackoffKind::exponential, 100, 100000);
  CHECK(retry_delay(p, 0, std::nullopt, 0.5) == milliseconds{100});
  CHECK(retry_delay(p, -7, std::nullopt, 0.5) == milliseconds{100});
}

TEST_CASE("every delay is capped at max_backoff_ms") {
  CHECK(first_six(policy(BackoffKind::exponential, 1000, 5000))
        == std::vector<int64_t>{1000, 2000, 4000, 5000, 5000, 5000});
  CHECK(first_six(policy(BackoffKind::linear, 1000, 2500))
        == std::vector<int64_t>{1000, 2000, 2500, 2500, 2500, 2500});
  CHECK(first_six(policy(BackoffKind::fibonacci, 1000, 4000))
        == std::vector<int64_t>{1000, 1000, 2000, 3000, 4000, 4000});
}

TEST_CASE("huge attempt counts saturate at the cap instead of wrapping") {
  for (auto kind : {BackoffKind::linear, BackoffKind::exponential,
                    BackoffKind::fibonacci}) {
    CAPTURE(static_cast<int>(kind));
    CHECK(retry_delay(policy(kind, 1000, 30000), 1000, std::nullopt, 0.5)
          == milliseconds{30000});
    CHECK(
        retry_delay(policy(kind, 1000, kMaxMs), 1000, std::nullopt, 0.5).count()
        > 0);
    CHECK(retry_delay(policy(kind, 1000, 30000),
                      std::numeric_limits<int32_t>::max(), std::nullopt, 0.5)
          == milliseconds{30000});
  }
  CHECK(retry_delay(policy(BackoffKind::exponential, 1000, kMaxMs), 1000,
                    std::nullopt, 0.5)
        == milliseconds{kMaxMs});
  CHECK(retry_delay(policy(BackoffKind::fibonacci, 1000, kMaxMs), 1000,
                    std::nullopt, 0.5)
        == milliseconds{kMaxMs});
  CHECK(retry_delay(policy(BackoffKind::linear, kMaxMs / 2, kMaxMs), 3,
                    std::nullopt, 0.5)
        == milliseconds{kMaxMs});
  CHECK(retry_delay(policy(BackoffKind::exponential, 0, kMaxMs), 1000,
                    std::nullopt, 0.5)
        == milliseconds{0});
}

TEST_CASE("a handler hint replaces the computed delay and is capped") {
  auto p = policy(BackoffKind::exponential, 1000, 5000);
  CHECK(retry_delay(p, 3, milliseconds{1234}, 0.5) == milliseconds{1234});
  CHECK(retry_delay(p, 3, milliseconds{0}, 0.5) == milliseconds{0});
  CHECK(retry_delay(p, 1, milliseconds{60000}, 0.5) == milliseconds{5000});
  CHECK(retry_delay(p, 1, milliseconds{-20}, 0.5) == milliseconds{0});
  CHECK(retry_delay(policy(BackoffKind::none, 1000, 5000), 1, milliseconds{700},
                    0.5)
        == milliseconds{700});
}

TEST_CASE("jitter spreads a delay by at most the percentage, within the cap") {
  // Attempt 1 of linear with base 1000: a delay of 1000 ms, ±20 %.
  auto p = policy(BackoffKind::linear, 1000, 10000, 20);
  CHECK(retry_delay(p, 1, std::nullopt, 0.0) == milliseconds{800});
  CHECK(retry_delay(p, 1, std::nullopt, 0.25) == milliseconds{900});
  CHECK(retry_delay(p, 1, std::nullopt, 0.5) == milliseconds{1000});
  CHECK(retry_delay(p, 1, std::nullopt, kAlmostOne) == milliseconds{1200});
  // A hint means "not before": it is not jittered.
  CHECK(retry_delay(p, 1, milliseconds{2000}, 0.0) == milliseconds{2000});
  CHECK(retry_delay(p, 1, milliseconds{2000}, kAlmostOne)
        == milliseconds{2000});

  // At the cap, jitter can only shorten the delay.
  auto capped = policy(BackoffKind::linear, 1000, 5000, 20);
  CHECK(retry_delay(capped, 9, std::nullopt, 0.0) == milliseconds{4000});
  CHECK(retry_delay(capped, 9, std::nullopt, kAlmostOne) == milliseconds{5000});
  CHECK(retry_delay(policy(BackoffKind::linear, 1000, kMaxMs, 50), 1000,
                    std::nullopt, kAlmostOne)
        == milliseconds{1500000});

  auto full = policy(BackoffKind::linear, 1000, 10000, 100);
  CHECK(retry_delay(full, 1, std::nullopt, 0.0) == milliseconds{0});
  CHECK(retry_delay(full, 1, std::nullopt, kAlmostOne) == milliseconds{2000});
}

TEST_CASE("without jitter the unit has no effect") {
  for (auto unit : {0.0, 0.5, kAlmostOne}) {
    CAPTURE(unit);
    CHECK(retry_delay(policy(BackoffKind::exponential, 1000, 30000), 3,
                      std::nullopt, unit)
          == milliseconds{4000});
    // Exact even where a double cannot hold every millisecond count.
    CHECK(retry_delay(policy(BackoffKind::linear, kMaxMs - 1, kMaxMs), 1,
                      std::nullopt, unit)
          == milliseconds{kMaxMs - 1});
  }
}

TEST_CASE("a unit outside the unit interval is clamped") {
  auto p = policy(BackoffKind::linear, 1000, 10000, 20);
  CHECK(retry_delay(p, 1, std::nullopt, -3.0) == milliseconds{800});
  CHECK(retry_delay(p, 1, std::nullopt, 7.0) == milliseconds{1200});
  CHECK(retry_delay(p, 1, std::nullopt, std::nan("")) == milliseconds{800});
}

TEST_CASE("a jitter source is deterministic for a seed and stays below one") {
  JitterSource a{42};
  JitterSource b{42};
  JitterSource other{43};
  bool differs = false;
  double lowest = 1.0;
  double highest = 0.0;
  for (int i = 0; i < 10000; ++i) {
    const double x = a.next();
    CHECK(x == b.next());
    differs = differs || x != other.next();
    REQUIRE(x >= 0.0);
    REQUIRE(x < 1.0);
    lowest = std::min(lowest, x);
    highest = std::max(highest, x);
  }
  CHECK(differs);
  CHECK(lowest < 0.01);
  CHECK(highest > 0.99);
}

TEST_CASE("a jitter source draws the top 53 bits of mt19937_64") {
  // The standard fixes mt19937_64's output; for seed 5489 the first is
  // 14514284786278117030.
  JitterSource source{5489};
  CHECK(source.next() == (14514284786278117030ULL >> 11) * 0x1.0p-53);
}
