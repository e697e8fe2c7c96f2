#include "orchestration/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace tasker::orchestration {

namespace {

constexpr int64_t kMaxMs = std::numeric_limits<int64_t>::max();

// Both factors are non-negative.
int64_t saturating_multiply(int64_t a, int64_t b) {
  if (b != 0 && a > kMaxMs / b)
    return kMaxMs;
  return a * b;
}

// fib(1) = fib(2) = 1; values beyond int64_t saturate.
int64_t fibonacci(int32_t n) {
  int64_t previous = 0;
  int64_t current = 1;
  for (int32_t i = 1; i < n; ++i) {
    if (current > kMaxMs - previous)
      return kMaxMs;
    previous = std::exchange(current, previous + current);
  }
  return current;
}

int64_t computed_delay(const config::RetryPolicy& policy, int32_t n) {
  const int64_t base = std::max<int64_t>(policy.backoff_base_ms, 0);
  switch (policy.backoff) {
    case config::BackoffKind::none: return 0;
    case config::BackoffKind::linear: return saturating_multiply(base, n);
    case config::BackoffKind::exponential:
      if (n - 1 >= 63)
        return base == 0 ? 0 : kMaxMs;
      return saturating_multiply(base, int64_t{1} << (n - 1));
    case config::BackoffKind::fibonacci:
      return saturating_multiply(base, fibonacci(n));
  }
  return 0;
}

} // namespace

std::chrono::milliseconds
retry_delay(const config::RetryPolicy& policy, int32_t attempts_made,
            std::optional<std::chrono::milliseconds> handler_hint,
            double jitter_unit) {
  const int64_t cap = std::max<int64_t>(policy.max_backoff_ms, 0);
  const int32_t n = std::max(attempts_made, 1);
  const int64_t raw
      = handler_hint ? handler_hint->count() : computed_delay(policy, n);
  const int64_t delay = std::clamp<int64_t>(raw, 0, cap);
  const int32_t percent = std::clamp(policy.jitter_percent, 0, 100);
  // A hint (e.g. a rate limit's Retry-After) means "not before": no jitter.
  // Going through double would lose precision above 2^53 ms.
  if (percent == 0 || handler_hint)
    return std::chrono::milliseconds{delay};
  const double unit
      = std::isnan(jitter_unit) ? 0.0 : std::clamp(jitter_unit, 0.0, 1.0);
  const double p = percent / 100.0;
  const double jittered
      = static_cast<double>(delay) * (1.0 - p + 2.0 * p * unit);
  // static_cast<double>(cap) may round up past int64_t's range.
  if (jittered >= static_cast<double>(cap))
    return std::chrono::milliseconds{cap};
  return std::chrono::milliseconds{std::llround(jittered)};
}

} // namespace tasker::orchestration
