#pragma once

#include <atomic>

namespace tasker::web {

/// A Prometheus counter series: a value that only grows, e.g. steps
/// completed. Thread-safe; obtained from `MetricsRegistry::counter`.
class Counter {
 public:
  /// Adds `amount`. A negative amount is a bug: throws
  /// `std::invalid_argument`.
  void inc(double amount = 1);

  double value() const;

 private:
  std::atomic<double> value_{0};
};

} // namespace tasker::web
