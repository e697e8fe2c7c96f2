#pragma once

#include "web/counter.hpp"
#include "web/gauge.hpp"
#include "web/histogram.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tasker::web {

/// Prometheus metrics of one process, rendered in the text exposition
/// format 0.0.4. Thread-safe. A series is a metric name plus label values;
/// asking again for the same name and labels returns the same series, valid
/// as long as the registry.
///
/// Registration mistakes are bugs, not runtime conditions, so they throw
/// `std::invalid_argument` naming the metric: an invalid metric or label
/// name, a name registered already with another type, or a histogram whose
/// buckets differ from the ones its name was registered with.
class MetricsRegistry {
 public:
  using Labels = std::map<std::string, std::string>;

  /// Sets gauges (or other series) from live sources at render time.
  using Collector = std::function<void(MetricsRegistry&)>;

  /// Returns the counter series `name{labels}`; `help` describes the
  /// metric when the name is new and is ignored otherwise.
  Counter& counter(const std::string& name, const std::string& help,
                   const Labels& labels = {});

  /// Returns the gauge series `name{labels}`; as `counter` for `help`.
  Gauge& gauge(const std::string& name, const std::string& help,
               const Labels& labels = {});

  /// Returns the histogram series `name{labels}` with the finite, strictly
  /// increasing upper bounds `buckets` (`+Inf` is implied); as `counter`
  /// for `help`. The label name `le` is reserved.
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> buckets, const Labels& labels = {});

  /// Adds a collector, run by every `render` before rendering. An exception
  /// it throws is logged and does not stop the render.
  void add_collector(Collector collector);

  /// Runs the collectors, then returns every metric: `# HELP` and `# TYPE`
  /// once per metric, metrics in name order, series in label order.
  std::string render();

 private:
  enum class Type { counter, gauge, histogram };

  struct Family {
    Type type = Type::counter;
    std::string help;
    std::vector<double> buckets;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };

  static std::string_view type_name(Type type);

  // Returns the family `name`, creating it; throws on a registration bug.
  // The caller holds `mutex_`.
  Family& family(const std::string& name, const std::string& help, Type type,
                 const Labels& labels);

  std::mutex mutex_;
  std::map<std::string, Family> families_;
  std::vector<Collector> collectors_;
};

} // namespace tasker::web
