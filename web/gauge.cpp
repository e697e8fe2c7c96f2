#include "web/gauge.hpp"

namespace tasker::web {

void Gauge::set(double value) {
  value_.store(value, std::memory_order_relaxed);
}

void Gauge::inc(double amount) {
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void Gauge::dec(double amount) {
  value_.fetch_sub(amount, std::memory_order_relaxed);
}

double Gauge::value() const {
  return value_.load(std::memory_order_relaxed);
}

} // namespace tasker::web
