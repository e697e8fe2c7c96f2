// End-to-end latency of example workflows: each task is created through
// the REST API and waited for with a long poll, one at a time, against a
// server and a worker running as separate processes (PGMQ, RabbitMQ) or
// one all-in-one process (in memory). Prints P50/P95/P99 per workflow and
// provider, each the median over --runs runs.

#include "bench/cpu_usage.hpp"
#include "bench/node_setup.hpp"
#include "bench/task_driver.hpp"

#include <cstdio>
#include <map>

namespace {

using namespace tasker::bench;

struct Workflow {
  std::string label;
  std::string name_space;
  std::string name;
  int steps;
};

const std::vector<Workflow> kWorkflows{
    {"linear-4", "linear_workflow", "mathematical_sequence", 4},
    {"diamond-4", "diamond_workflow", "diamond_pattern", 4},
    {"dag-7", "mixed_dag_workflow", "complex_dag", 7},
    {"tree-8", "tree_workflow", "hierarchical_tree", 8},
};

struct Options {
  NodeSetup nodes;
  std::vector<std::string> workflows{"linear-4", "diamond-4", "dag-7",
                                     "tree-8"};
  int64_t tasks = 200;
  int64_t warmup = 20;
  int64_t runs = 3;
};

void usage() {
  std::printf("usage: e2e_latency [--providers pgmq,rabbitmq,in-memory] "
              "[--workflows linear-4,diamond-4,dag-7,tree-8]\n"
              "                   [--tasks N] [--warmup N] [--runs N] "
              "[--database-url URL] [--rabbitmq-url URL]\n"
              "                   [--apps-dir DIR] [--templates DIR]\n%s",
              NodeSetup::kUsage);
}

const Workflow& workflow_named(const std::string& label) {
  for (const auto& w : kWorkflows)
    if (w.label == label)
      return w;
  throw std::invalid_argument("unknown workflow '" + label
                              + "' (linear-4, diamond-4, dag-7, tree-8)");
}

struct Percentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
  /// P50 of the part until the creation was answered.
  double create_p50 = 0;
  /// CPU time per task of the node processes, and of the database's
  /// backends (negative when not known: no database, or not on this
  /// machine).
  double nodes_cpu_ms = 0;
  double database_cpu_ms = -1;
};

/// `database_url` empty when the provider keeps no state in PostgreSQL.
Percentiles measure(NodeCluster& cluster, const std::string& database_url,
                    const Workflow& workflow, int64_t count, uint64_t& serial,
                    const std::string& run) {
  DriveOptions drive;
  drive.address = cluster.address();
  drive.in_flight = 1;
  drive.tasks = static_cast<std::size_t>(count);
  drive.body = [&](uint64_t) {
    nlohmann::json body{{"namespace", workflow.name_space},
                        {"name", workflow.name},
                        {"context", {{"even_number", 2}}},
                        {"idempotency_key", "e2e-latency-" + run + "-"
                                                + std::to_string(serial++)}};
    return body.dump();
  };
  auto backends_before
      = database_url.empty() ? std::nullopt : backend_cpu(database_url);
  auto nodes_before = nodes_cpu(cluster);
  auto result = TaskDriver{drive}.run();
  if (result.not_complete != 0)
    throw std::runtime_error(std::to_string(result.not_complete) + " "
                             + workflow.label + " task(s) did not complete");
  Percentiles out{percentile(result.latencies_ms, 0.50),
                  percentile(result.latencies_ms, 0.95),
                  percentile(result.latencies_ms, 0.99),
                  percentile(result.latencies_ms, 1.0),
                  percentile(result.creations_ms, 0.50)};
  const auto tasks = static_cast<double>(count);
  out.nodes_cpu_ms = (nodes_cpu(cluster) - nodes_before) * 1000 / tasks;
  if (backends_before)
    if (auto backends_after = backend_cpu(database_url))
      out.database_cpu_ms
          = backend_cpu_used(*backends_before, *backends_after) * 1000 / tasks;
  return out;
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CommandLine args{argc, argv};
  try {
    while (args.next()) {
      const auto& arg = args.arg();
      if (o.nodes.take(args)) {
        continue;
      } else if (arg == "--workflows") {
        o.workflows = split_list(args.value());
      } else if (arg == "--tasks") {
        o.tasks = args.number();
      } else if (arg == "--warmup") {
        o.warmup = args.number();
      } else if (arg == "--runs") {
        o.runs = args.number();
      } else if (arg == "--help" || arg == "-h") {
        usage();
        return 0;
      } else {
        throw std::invalid_argument("unknown argument '" + arg + "'");
      }
    }
    if (o.tasks < 1 || o.warmup < 0 || o.runs < 1)
      throw std::invalid_argument(
          "--tasks and --runs must be at least 1, --warmup at least 0");
    for (const auto& w : o.workflows)
      workflow_named(w);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_latency: %s\n", e.what());
    usage();
    return 2;
  }
  o.nodes.settle();

  std::printf("e2e_latency: %s\n", args.text().c_str());
  std::printf("machine: %s\n", machine_description().c_str());
  std::printf("each task: POST /v1/tasks, then GET /v1/tasks/{id}?wait_ms= "
              "until it finished; one task at a time; \"create\" is the part\n"
              "until the POST was answered (the task stored and its first "
              "steps sent);\n"
              "\"cpu\" is the CPU time per task of the node processes and "
              "of the database's backends (when on this machine);\n"
              "%lld tasks per workflow after %lld warm-up, median of %lld "
              "run(s) (fresh nodes per run)\n",
              static_cast<long long>(o.tasks), static_cast<long long>(o.warmup),
              static_cast<long long>(o.runs));
  int failures = 0;
  uint64_t serial = 0;
  for (const auto& provider : o.nodes.providers) {
    std::printf("\nprovider %s (%s)\n", provider.c_str(),
                servers_description(provider, o.nodes.database_url,
                                    o.nodes.rabbitmq_url)
                    .c_str());
    std::printf("%-10s %5s %9s %9s %9s %9s %11s %14s %14s %14s\n", "workflow",
                "steps", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50/step",
                "create p50 ms", "nodes cpu ms", "db cpu ms");
    const auto database_url
        = provider == "in-memory" ? std::string{} : o.nodes.database_url;
    std::map<std::string, std::vector<Percentiles>> runs;
    try {
      for (int64_t run = 0; run < o.runs; ++run) {
        NodeCluster cluster{
            o.nodes.cluster(provider, "e2e-latency", std::to_string(run))};
        for (const auto& label : o.workflows) {
          const auto& workflow = workflow_named(label);
          if (o.warmup > 0)
            measure(cluster, database_url, workflow, o.warmup, serial,
                    o.nodes.run_id);
          runs[label].push_back(measure(cluster, database_url, workflow,
                                        o.tasks, serial, o.nodes.run_id));
        }
      }
    } catch (const std::exception& e) {
      std::printf("  failed: %s\n", e.what());
      ++failures;
      continue;
    }
    for (const auto& label : o.workflows) {
      const auto& workflow = workflow_named(label);
      auto median = [&](double Percentiles::*field) {
        std::vector<double> values;
        for (const auto& p : runs[label])
          values.push_back(p.*field);
        return percentile(values, 0.5);
      };
      auto p50 = median(&Percentiles::p50);
      auto database_cpu = median(&Percentiles::database_cpu_ms);
      char database_text[32] = "-";
      if (database_cpu >= 0)
        std::snprintf(database_text, sizeof database_text, "%.2f",
                      database_cpu);
      std::printf("%-10s %5d %9.2f %9.2f %9.2f %9.2f %11.3f %14.2f %14.2f "
                  "%14s\n",
                  label.c_str(), workflow.steps, p50, median(&Percentiles::p95),
                  median(&Percentiles::p99), median(&Percentiles::max),
                  p50 / workflow.steps, median(&Percentiles::create_p50),
                  median(&Percentiles::nodes_cpu_ms), database_text);
    }
  }
  return o.nodes.finish("e2e-latency", failures);
}
