#pragma once

#include "config/task_template.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace tasker::orchestration {

/// Returns how long to wait before the next attempt of a step whose retry
/// settings are `policy`, after `attempts_made` attempts (1 after the first
/// failure; values below 1 count as 1). With `base = backoff_base_ms` and
/// `n = attempts_made`, by `policy.backoff`:
/// - `none`: 0;
/// - `linear`: `base * n`;
/// - `exponential`: `base * 2^(n - 1)`;
/// - `fibonacci`: `base * fib(n)`, with fib = 1, 1, 2, 3, 5, 8, ...
/// Every delay is capped at `max_backoff_ms`; arithmetic saturates, so huge
/// attempt counts yield the cap, never a wrapped value. A `handler_hint`
/// replaces the computed delay, is capped too, counts as 0 when negative,
/// and is not jittered (it means "not before", like a Retry-After).
/// Jitter comes last: `jitter_unit` in [0, 1) (drawn by the caller, e.g.
/// from `JitterSource`; clamped into [0, 1], NaN counts as 0) maps linearly
/// onto a factor in [1 - p, 1 + p] with p = `jitter_percent / 100` (the
/// percent clamped to 0..100); the jittered delay is rounded to whole
/// milliseconds and clamped to [0, max_backoff_ms]; with p = 0 the delay is
/// returned unchanged. A negative base or cap
/// (which `validate_template` rejects) counts as 0.
std::chrono::milliseconds
retry_delay(const config::RetryPolicy& policy, int32_t attempts_made,
            std::optional<std::chrono::milliseconds> handler_hint,
            double jitter_unit);

} // namespace tasker::orchestration
