#include "web/metrics_registry.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>
#include <vector>

using namespace tasker::web;

TEST_CASE("the metrics registry renders counters, gauges and histograms") {
  MetricsRegistry registry;
  registry
      .counter("tasker_steps_total", "Steps finished.", {{"state", "complete"}})
      .inc(3);
  registry
      .counter("tasker_steps_total", "Steps finished.", {{"state", "error"}})
      .inc();
  registry
      .gauge("tasker_queue_depth", "Messages waiting.",
             {{"queue", "orchestration"}, {"kind", "ready"}})
      .set(7);
  auto& seconds = registry.histogram("tasker_step_seconds", "Step duration.",
                                     {0.25, 1, 10});
  for (double value : {0.125, 0.5, 0.5, 20.0})
    seconds.observe(value);

  CHECK(registry.render()
        == "# HELP tasker_queue_depth Messages waiting.\n"
           "# TYPE tasker_queue_depth gauge\n"
           "tasker_queue_depth{kind=\"ready\",queue=\"orchestration\"} 7\n"
           "# HELP tasker_step_seconds Step duration.\n"
           "# TYPE tasker_step_seconds histogram\n"
           "tasker_step_seconds_bucket{le=\"0.25\"} 1\n"
           "tasker_step_seconds_bucket{le=\"1\"} 3\n"
           "tasker_step_seconds_bucket{le=\"10\"} 3\n"
           "tasker_step_seconds_bucket{le=\"+Inf\"} 4\n"
           "tasker_step_seconds_sum 21.125\n"
           "tasker_step_seconds_count 4\n"
           "# HELP tasker_steps_total Steps finished.\n"
           "# TYPE tasker_steps_total counter\n"
           "tasker_steps_total{state=\"complete\"} 3\n"
           "tasker_steps_total{state=\"error\"} 1\n");
}

TEST_CASE("the metrics registry puts le last in labelled histogram buckets") {
  MetricsRegistry registry;
  registry.histogram("latency", "Latency.", {1}, {{"route", "/a"}}).observe(2);
  CHECK(registry.render()
        == "# HELP latency Latency.\n"
           "# TYPE latency histogram\n"
           "latency_bucket{route=\"/a\",le=\"1\"} 0\n"
           "latency_bucket{route=\"/a\",le=\"+Inf\"} 1\n"
           "latency_sum{route=\"/a\"} 2\n"
           "latency_count{route=\"/a\"} 1\n");
}

TEST_CASE("the metrics registry escapes label values and help text") {
  MetricsRegistry registry;
  registry
      .gauge("odd", "Help with \\ and\nnewline \"quoted\".",
             {{"path", "C:\\tmp \"x\"\nnext"}})
      .set(-1.5);
  CHECK(registry.render()
        == "# HELP odd Help with \\\\ and\\nnewline \"quoted\".\n"
           "# TYPE odd gauge\n"
           "odd{path=\"C:\\\\tmp \\\"x\\\"\\nnext\"} -1.5\n");
}

TEST_CASE("the metrics registry runs collectors at every render") {
  MetricsRegistry registry;
  int depth = 0;
  registry.add_collector([&](MetricsRegistry& metrics) {
    metrics.gauge("queue_depth", "Depth.").set(++depth);
  });
  CHECK(registry.render()
        == "# HELP queue_depth Depth.\n# TYPE queue_depth gauge\n"
           "queue_depth 1\n");
  CHECK(registry.render()
        == "# HELP queue_depth Depth.\n# TYPE queue_depth gauge\n"
           "queue_depth 2\n");
}

TEST_CASE("the metrics registry returns one series per name and labels") {
  MetricsRegistry registry;
  auto& first = registry.counter("hits_total", "Hits.", {{"a", "1"}});
  CHECK(&registry.counter("hits_total", "Hits.", {{"a", "1"}}) == &first);
  CHECK(&registry.counter("hits_total", "Hits.", {{"a", "2"}}) != &first);
  auto& gauge = registry.gauge("level", "Level.");
  gauge.inc(5);
  gauge.dec(2);
  CHECK(registry.gauge("level", "Level.").value() == 3);
}

TEST_CASE("the metrics registry refuses registration bugs, naming the metric") {
  MetricsRegistry registry;
  registry.counter("hits_total", "Hits.");
  CHECK_THROWS_WITH_AS(registry.gauge("hits_total", "Hits."),
                       "metric 'hits_total': registered already as a counter",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(registry.counter("2bad", "Bad."),
                       "metric '2bad': invalid metric name",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(registry.counter("ok", "Ok.", {{"bad-label", "x"}}),
                       "metric 'ok': invalid or reserved label name "
                       "'bad-label'",
                       std::invalid_argument);
  CHECK_THROWS_AS(registry.histogram("h", "H.", {1}, {{"le", "x"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(registry.histogram("h", "H.", {2, 1}), std::invalid_argument);
  registry.histogram("h", "H.", {1, 2});
  CHECK_THROWS_WITH_AS(registry.histogram("h", "H.", {1, 3}),
                       "metric 'h': registered already with other buckets",
                       std::invalid_argument);
  CHECK_THROWS_AS(registry.counter("hits_total", "Hits.").inc(-1),
                  std::invalid_argument);
}

TEST_CASE("the metrics registry counts increments from many threads") {
  MetricsRegistry registry;
  auto& counter = registry.counter("work_total", "Work.");
  auto& histogram = registry.histogram("work_seconds", "Work.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        counter.inc();
        histogram.observe(0.5);
      }
    });
  for (auto& thread : threads)
    thread.join();
  CHECK(counter.value() == 4000);
  auto snapshot = histogram.snapshot();
  CHECK(snapshot.count == 4000);
  CHECK(snapshot.cumulative_counts == std::vector<uint64_t>{4000, 4000});
  CHECK(snapshot.sum == 2000);
}
