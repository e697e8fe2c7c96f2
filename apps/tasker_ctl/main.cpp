// tasker-ctl: the operator's command line. Exit codes: 0 success, 1 the
// checked thing is invalid or the operation failed, 2 usage error, 3 the
// node or the provider cannot be reached.

#include "apps/tasker_ctl/cli_args.hpp"
#include "apps/tasker_ctl/remote_commands.hpp"
#include "config/config_loader.hpp"
#include "config/config_schema.hpp"
#include "config/template_catalog.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace {

using tasker::apps::CliArgs;
using namespace tasker::config;

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

constexpr const char* kUsageText
    = R"(usage: tasker-ctl [--config FILE] [--url URL] [--json] GROUP COMMAND [ARGS]

  config validate            check the configuration (file and environment)
  config show                print the effective configuration and origins
  config docs                print the configuration reference (Markdown)
  template validate [PATH]   load, check and print every template
  template list [PATH]       list templates with namespace, version, queue
  template show NAME [PATH]  print one template's steps (NAME or NS/NAME)

  task create NS/NAME [CONTEXT_JSON] [version=V] [key=K] [priority=N]
  task get ID | task steps ID
  task list [state=S] [namespace=NS] [name=N] [limit=N] [offset=N]
  task cancel ID [reason=TEXT]
  task reset-step ID STEP | task resolve-step ID STEP
  task complete-step ID STEP RESULT_JSON
  dlq list [resolution=R] [limit=N]
  dlq update ID resolution=R [notes=TEXT] [by=NAME]
  health                     the node's readiness (exit 1 when not ready)
  queue list                 the provider's queues with their depths
  queue verify               the orchestration and namespace queues exist

PATH defaults to the configured template_path (TASKER_TEMPLATE_PATH).
The configuration file is --config FILE, else TASKER_CONFIG_PATH, else none.
task, dlq and health talk to --url (default http:// plus
orchestration.bind_address) with orchestration.api_key (TASKER_API_KEY).
Exit codes: 0 success, 1 refused or failed, 2 usage, 3 unreachable.
)";

int usage_error(const std::string& message) {
  std::cerr << "tasker-ctl: " << message << "\n\n" << kUsageText;
  return kUsage;
}

tasker::core::Result<LoadedConfig> load_config(const CliArgs& args) {
  std::optional<std::filesystem::path> file;
  if (args.config_file)
    file = *args.config_file;
  auto loaded = ConfigLoader::load(file, ConfigLoader::process_environment());
  if (loaded)
    for (auto& warning : loaded->warnings)
      std::cerr << "warning: " << warning << "\n";
  return loaded;
}

// -- config -------------------------------------------------------------------

int config_command(const CliArgs& args) {
  auto& command = args.words.at(1);
  if (command == "docs") {
    std::cout << ConfigSchema::instance().render_markdown();
    return kOk;
  }
  if (command != "validate" && command != "show")
    return usage_error("unknown command 'config " + command + "'");
  auto loaded = load_config(args);
  if (!loaded) {
    std::cerr << loaded.error().message() << "\n";
    return kFailed;
  }
  if (command == "show") {
    std::cout << ConfigLoader::render_toml(*loaded);
    return kOk;
  }
  auto source = loaded->file ? loaded->file->string() : "defaults";
  if (args.json) {
    std::cout << nlohmann::json{{"valid", true},
                                {"source", source},
                                {"warnings", loaded->warnings}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "configuration is valid (" << source << "; backend "
              << to_string(loaded->config.messaging_backend) << ")\n";
  }
  return kOk;
}

// -- template -----------------------------------------------------------------

nlohmann::json template_json(const TaskTemplate& t) {
  auto steps = nlohmann::json::array();
  for (auto& s : t.steps)
    steps.push_back({{"name", s.name},
                     {"type", to_string(s.type)},
                     {"callable", s.handler.callable},
                     {"dependencies", s.dependencies},
                     {"max_attempts", s.retry.max_attempts},
                     {"backoff", to_string(s.retry.backoff)}});
  return {{"namespace", t.namespace_name}, {"name", t.name},
          {"version", t.version},          {"queue", t.queue_name()},
          {"file", t.source_file},         {"steps", steps}};
}

void print_template(const TaskTemplate& t) {
  std::cout << t.namespace_name << "/" << t.name << " v" << t.version << "  ("
            << t.steps.size() << " steps, queue " << t.queue_name() << ")\n";
  if (!t.description.empty())
    std::cout << "  " << t.description << "\n";
  auto levels = t.dependency_levels();
  if (!levels)
    return;
  for (std::size_t level = 0; level < levels->size(); ++level) {
    for (auto& name : (*levels)[level]) {
      auto step = t.find_step(name);
      std::cout << "  [" << level << "] " << name << "  <- "
                << step->handler.callable;
      if (!step->dependencies.empty()) {
        std::cout << "  after ";
        for (std::size_t i = 0; i < step->dependencies.size(); ++i)
          std::cout << (i ? ", " : "") << step->dependencies[i];
      }
      std::cout << "  (retry " << step->retry.max_attempts << "x "
                << to_string(step->retry.backoff);
      if (step->timeout_seconds)
        std::cout << ", timeout " << *step->timeout_seconds << "s";
      std::cout << ")\n";
    }
  }
}

int template_command(const CliArgs& args) {
  auto& command = args.words.at(1);
  if (command != "validate" && command != "list" && command != "show")
    return usage_error("unknown command 'template " + command + "'");
  std::size_t path_index = command == "show" ? 3 : 2;
  if (command == "show" && args.words.size() < 3)
    return usage_error("template show needs a template NAME");
  if (args.words.size() > path_index + 1)
    return usage_error("too many arguments");
  std::string path;
  if (args.words.size() > path_index) {
    path = args.words[path_index];
  } else {
    auto loaded = load_config(args);
    if (!loaded) {
      std::cerr << loaded.error().message() << "\n";
      return kFailed;
    }
    path = loaded->config.template_path;
  }
  std::vector<TemplateDiagnostic> diagnostics;
  auto catalog = TemplateCatalog::load(path, &diagnostics);
  for (auto& d : diagnostics)
    if (d.severity == DiagnosticSeverity::warning)
      std::cerr << "warning: " << d.to_string() << "\n";
  if (!catalog) {
    std::cerr << catalog.error().message() << "\n";
    return kFailed;
  }
  if (command == "show") {
    auto& wanted = args.words[2];
    auto slash = wanted.find('/');
    const TaskTemplate* found = nullptr;
    for (auto& t : catalog->templates()) {
      bool match = slash == std::string::npos
                       ? t.name == wanted
                       : t.namespace_name + "/" + t.name == wanted;
      if (match && (!found || compare_versions(t.version, found->version) > 0))
        found = &t;
    }
    if (!found) {
      std::cerr << "no template named '" << wanted << "' in " << path << "\n";
      return kFailed;
    }
    if (args.json)
      std::cout << template_json(*found).dump(2) << "\n";
    else
      print_template(*found);
    return kOk;
  }
  if (args.json) {
    auto out = nlohmann::json::array();
    for (auto& t : catalog->templates())
      out.push_back(template_json(t));
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  if (command == "list") {
    std::printf("%-24s %-28s %-10s %5s  %s\n", "NAMESPACE", "NAME", "VERSION",
                "STEPS", "QUEUE");
    for (auto& t : catalog->templates())
      std::printf("%-24s %-28s %-10s %5zu  %s\n", t.namespace_name.c_str(),
                  t.name.c_str(), t.version.c_str(), t.steps.size(),
                  t.queue_name().c_str());
    return kOk;
  }
  for (auto& t : catalog->templates()) {
    print_template(t);
    std::cout << "\n";
  }
  std::cout << catalog->templates().size() << " templates valid in " << path
            << "; namespaces:";
  for (auto& ns : catalog->namespaces())
    std::cout << " " << ns;
  std::cout << "\n";
  return kOk;
}

} // namespace

int main(int argc, char** argv) {
  auto args = CliArgs::parse(std::vector<std::string>(argv + 1, argv + argc));
  if (args.help) {
    std::cout << kUsageText;
    return kOk;
  }
  if (args.bad_flag)
    return usage_error(*args.bad_flag);
  bool health = !args.words.empty() && args.words[0] == "health";
  if (args.words.size() < 2 && !health)
    return usage_error("missing GROUP and COMMAND");
  try {
    auto& group = args.words[0];
    if (group == "config")
      return config_command(args);
    if (group == "template")
      return template_command(args);
    if (group == "task" || group == "dlq" || group == "queue" || health) {
      auto loaded = load_config(args);
      if (!loaded) {
        std::cerr << "tasker-ctl: " << loaded.error().message() << "\n";
        return kUsage;
      }
      if (group == "task")
        return task_command(args, loaded->config);
      if (group == "dlq")
        return dlq_command(args, loaded->config);
      if (group == "queue")
        return queue_command(args, loaded->config);
      return health_command(args, loaded->config);
    }
    return usage_error("unknown group '" + group + "'");
  } catch (const std::exception& err) {
    std::cerr << "tasker-ctl: internal error: " << err.what() << "\n";
    return kFailed;
  }
}
