#pragma once

#include <atomic>

namespace tasker::web {

/// A Prometheus gauge series: a value that goes up and down, e.g. a queue
/// depth. Thread-safe; obtained from `MetricsRegistry::gauge`.
class Gauge {
 public:
  void set(double value);

  void inc(double amount = 1);

  void dec(double amount = 1);

  double value() const;

 private:
  std::atomic<double> value_{0};
};

} // namespace tasker::web
