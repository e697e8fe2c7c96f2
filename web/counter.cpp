#include "web/counter.hpp"

#include <stdexcept>
#include <string>

namespace tasker::web {

void Counter::inc(double amount) {
  if (amount < 0)
    throw std::invalid_argument("a counter cannot decrease (inc by "
                                + std::to_string(amount) + ")");
  value_.fetch_add(amount, std::memory_order_relaxed);
}

double Counter::value() const {
  return value_.load(std::memory_order_relaxed);
}

} // namespace tasker::web
