#pragma once

#include "bench/bench_environment.hpp"
#include "bench/command_line.hpp"
#include "bench/node_cluster.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace tasker::bench {

/// What the end-to-end benchmarks share on their command line: the
/// providers, the servers' URLs, where the binaries and templates are; and
/// a run id that keeps their logs and idempotency keys apart.
class NodeSetup {
 public:
  /// The usage lines of the arguments `take` knows.
  static constexpr const char* kUsage
      = "Default providers: in-memory, plus pgmq with a database URL "
        "(DATABASE_URL or TASKER_TEST_DATABASE_URL)\n"
        "and rabbitmq with a broker URL too (RABBITMQ_URL or "
        "TASKER_TEST_RABBITMQ_URL).\n";

  std::vector<std::string> providers;
  std::string database_url
      = env_or_empty({"DATABASE_URL", "TASKER_TEST_DATABASE_URL"});
  std::string rabbitmq_url
      = env_or_empty({"RABBITMQ_URL", "TASKER_TEST_RABBITMQ_URL"});
  std::string apps_dir = TASKER_APPS_DIR;
  std::string templates = TASKER_SOURCE_DIR "/examples/templates";
  std::string run_id
      = std::to_string(::getpid()) + "-"
        + std::to_string(
            std::chrono::system_clock::now().time_since_epoch().count());

  /// Takes the current argument (and its value) if it is one of
  /// --providers, --database-url, --rabbitmq-url, --apps-dir, --templates.
  bool take(CommandLine& args) {
    const auto& arg = args.arg();
    if (arg == "--providers") {
      providers = split_list(args.value());
      providers_given_ = true;
    } else if (arg == "--database-url") {
      database_url = args.value();
    } else if (arg == "--rabbitmq-url") {
      rabbitmq_url = args.value();
    } else if (arg == "--apps-dir") {
      apps_dir = args.value();
    } else if (arg == "--templates") {
      templates = args.value();
    } else {
      return false;
    }
    return true;
  }

  /// Fills in the default providers unless --providers named them.
  void settle() {
    if (!providers_given_)
      providers = default_providers(database_url, rabbitmq_url);
  }

  /// The nodes of `provider`, logging under `benchmark`'s run directory.
  ClusterOptions cluster(const std::string& provider,
                         const std::string& benchmark,
                         const std::filesystem::path& run_dir) const {
    return {provider, database_url, rabbitmq_url,
            apps_dir, templates,    logs(benchmark) / provider / run_dir,
            {}};
  }

  /// Ends `benchmark`'s run: removes its nodes' logs when nothing failed,
  /// else says where they are. The exit status.
  int finish(const std::string& benchmark, int failures) const {
    auto dir = logs(benchmark);
    std::error_code ignored;
    if (failures == 0) {
      std::filesystem::remove_all(dir, ignored);
      return 0;
    }
    if (std::filesystem::exists(dir, ignored))
      std::fprintf(stderr, "the nodes' logs are in %s\n", dir.c_str());
    return 1;
  }

 private:
  std::filesystem::path logs(const std::string& benchmark) const {
    return std::filesystem::temp_directory_path()
           / ("tasker-" + benchmark + "-" + run_id);
  }

  bool providers_given_ = false;
};

} // namespace tasker::bench
