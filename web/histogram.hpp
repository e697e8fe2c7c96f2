#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

namespace tasker::web {

/// A Prometheus histogram series: counts of observations per bucket, their
/// sum and count. Thread-safe; obtained from `MetricsRegistry::histogram`.
class Histogram {
 public:
  /// The state of a histogram at one instant.
  struct Snapshot {
    /// The finite upper bounds; the `+Inf` bucket is implied.
    std::vector<double> upper_bounds;
    /// Per bound, the observations up to it; last, all of them (`+Inf`).
    std::vector<uint64_t> cumulative_counts;
    double sum = 0;
    uint64_t count = 0;
  };

  /// `upper_bounds` are strictly increasing and finite (checked by the
  /// registry).
  explicit Histogram(std::vector<double> upper_bounds);

  /// Counts `value` in the first bucket whose bound is at least `value`.
  void observe(double value);

  /// Returns counts, sum and count taken together, so they agree.
  Snapshot snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  // Per bucket, not cumulative; the last is `+Inf`.
  std::vector<uint64_t> bucket_counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

} // namespace tasker::web
