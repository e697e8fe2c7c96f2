#include "web/metrics_registry.hpp"

#include "core/logger.hpp"

#include <charconv>
#include <cmath>
#include <exception>
#include <stdexcept>

namespace tasker::web {

namespace {

bool is_name(std::string_view name, bool allow_colon) {
  auto allowed = [&](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || (allow_colon && c == ':') || (!first && c >= '0' && c <= '9');
  };
  if (name.empty() || !allowed(name.front(), true))
    return false;
  for (char c : name.substr(1))
    if (!allowed(c, false))
      return false;
  return true;
}

// Prometheus' spelling of numbers: shortest round-trip, "+Inf", "NaN".
std::string format_number(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  return std::string(buffer, end);
}

std::string escape(std::string_view text, bool quotes) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quotes && c == '"')
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

// `{a="x",b="y"}`, with `le` last when given; empty without labels.
std::string label_text(const MetricsRegistry::Labels& labels,
                       const std::string& le = {}) {
  std::string out;
  for (const auto& [name, value] : labels)
    out += (out.empty() ? "" : ",") + name + "=\"" + escape(value, true) + "\"";
  if (!le.empty())
    out += (out.empty() ? "" : ",") + std::string{"le=\""} + le + "\"";
  return out.empty() ? out : "{" + out + "}";
}

void render_histogram(std::string& out, const std::string& name,
                      const MetricsRegistry::Labels& labels,
                      const Histogram& histogram) {
  auto snapshot = histogram.snapshot();
  for (std::size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
    auto le = i < snapshot.upper_bounds.size()
                  ? format_number(snapshot.upper_bounds[i])
                  : "+Inf";
    out += name + "_bucket" + label_text(labels, le) + " "
           + std::to_string(snapshot.cumulative_counts[i]) + "\n";
  }
  out += name + "_sum" + label_text(labels) + " " + format_number(snapshot.sum)
         + "\n";
  out += name + "_count" + label_text(labels) + " "
         + std::to_string(snapshot.count) + "\n";
}

template <class Series, class... Args>
Series&
series_of(std::map<MetricsRegistry::Labels, std::unique_ptr<Series>>& series,
          const MetricsRegistry::Labels& labels, Args&&... args) {
  auto& slot = series[labels];
  if (!slot)
    slot = std::make_unique<Series>(std::forward<Args>(args)...);
  return *slot;
}

} // namespace

std::string_view MetricsRegistry::type_name(Type type) {
  switch (type) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name,
                                                 const std::string& help,
                                                 Type type,
                                                 const Labels& labels) {
  auto reject = [&](const std::string& why) {
    return std::invalid_argument("metric '" + name + "': " + why);
  };
  if (!is_name(name, true))
    throw reject("invalid metric name");
  for (const auto& [label, value] : labels)
    if (!is_name(label, false) || label.starts_with("__")
        || (type == Type::histogram && label == "le"))
      throw reject("invalid or reserved label name '" + label + "'");
  auto [entry, created] = families_.try_emplace(name);
  if (created) {
    entry->second.type = type;
    entry->second.help = help;
  } else if (entry->second.type != type)
    throw reject("registered already as a "
                 + std::string{type_name(entry->second.type)});
  return entry->second;
}

Counter& MetricsRegistry::counter(const std::string& name,
                                  const std::string& help,
                                  const Labels& labels) {
  std::lock_guard lock{mutex_};
  return series_of(family(name, help, Type::counter, labels).counters, labels);
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard lock{mutex_};
  return series_of(family(name, help, Type::gauge, labels).gauges, labels);
}

Histogram& MetricsRegistry::histogram(const std::string& name,
                                      const std::string& help,
                                      std::vector<double> buckets,
                                      const Labels& labels) {
  for (std::size_t i = 0; i < buckets.size(); ++i)
    if (!std::isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
      throw std::invalid_argument("metric '" + name
                                  + "': buckets must be finite and strictly "
                                    "increasing");
  std::lock_guard lock{mutex_};
  auto& entry = family(name, help, Type::histogram, labels);
  if (entry.histograms.empty())
    entry.buckets = buckets;
  else if (entry.buckets != buckets)
    throw std::invalid_argument("metric '" + name
                                + "': registered already with other buckets");
  return series_of(entry.histograms, labels, std::move(buckets));
}

void MetricsRegistry::add_collector(Collector collector) {
  std::lock_guard lock{mutex_};
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::render() {
  std::vector<Collector> collectors;
  {
    std::lock_guard lock{mutex_};
    collectors = collectors_;
  }
  // Unlocked: collectors register and set series themselves.
  for (const auto& collect : collectors) {
    try {
      collect(*this);
    } catch (const std::exception& e) {
      core::log_error("metrics", std::string{"a collector threw: "} + e.what());
    } catch (...) {
      core::log_error("metrics", "a collector threw a non-standard exception");
    }
  }
  std::lock_guard lock{mutex_};
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + " " + escape(family.help, false) + "\n";
    out += "# TYPE " + name + " " + std::string{type_name(family.type)} + "\n";
    for (const auto& [labels, counter] : family.counters)
      out += name + label_text(labels) + " " + format_number(counter->value())
             + "\n";
    for (const auto& [labels, gauge] : family.gauges)
      out += name + label_text(labels) + " " + format_number(gauge->value())
             + "\n";
    for (const auto& [labels, histogram] : family.histograms)
      render_histogram(out, name, labels, *histogram);
  }
  return out;
}

} // namespace tasker::web
