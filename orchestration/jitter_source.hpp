#pragma once

#include <cstdint>
#include <random>

namespace tasker::orchestration {

/// A seeded source of `jitter_unit` values for `retry_delay`. The same seed
/// yields the same sequence on every platform. Thread-compatible: use one
/// per thread, or guard `next` externally.
class JitterSource {
 public:
  /// Starts the sequence determined by `seed`.
  explicit JitterSource(uint64_t seed);

  /// Returns the next value, uniformly distributed in [0, 1).
  double next();

 private:
  std::mt19937_64 engine_;
};

} // namespace tasker::orchestration
