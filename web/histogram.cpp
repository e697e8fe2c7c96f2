#include "web/histogram.hpp"

#include <algorithm>

namespace tasker::web {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      bucket_counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  auto bucket
      = std::ranges::lower_bound(upper_bounds_, value) - upper_bounds_.begin();
  std::lock_guard lock{mutex_};
  ++bucket_counts_[static_cast<std::size_t>(bucket)];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot out;
  out.upper_bounds = upper_bounds_;
  std::lock_guard lock{mutex_};
  uint64_t running = 0;
  for (auto count : bucket_counts_)
    out.cumulative_counts.push_back(running += count);
  out.sum = sum_;
  out.count = count_;
  return out;
}

} // namespace tasker::web
