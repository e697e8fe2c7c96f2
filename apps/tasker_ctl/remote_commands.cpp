#include "apps/tasker_ctl/remote_commands.hpp"

#include "config/queue_names.hpp"
#include "config/template_catalog.hpp"
#include "messaging/messaging_provider.hpp"
#include "web/http_client.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tasker::apps {

namespace {

using nlohmann::json;

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr int kUnreachable = 3;

int usage(const std::string& message) {
  std::cerr << "tasker-ctl: " << message << " (see tasker-ctl --help)\n";
  return kUsage;
}

// The words after GROUP COMMAND: positionals, and NAME=VALUE options.
struct Operands {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
};

Operands operands_of(const CliArgs& args) {
  Operands out;
  for (std::size_t i = 2; i < args.words.size(); ++i) {
    const auto& word = args.words[i];
    auto eq = word.find('=');
    bool option = eq != std::string::npos && eq > 0 && word.front() != '{'
                  && word.front() != '[' && word.front() != '"';
    if (option)
      out.options[word.substr(0, eq)] = word.substr(eq + 1);
    else
      out.positional.push_back(word);
  }
  return out;
}

std::optional<std::string> unknown_option(const Operands& operands,
                                          std::vector<std::string> known) {
  for (const auto& [name, value] : operands.options)
    if (std::find(known.begin(), known.end(), name) == known.end())
      return "unknown option '" + name + "='";
  return std::nullopt;
}

std::string base_url(const CliArgs& args, const config::NodeConfig& config) {
  return args.url ? *args.url : "http://" + config.orchestration.bind_address;
}

// Calls the node; prints an error and sets `code` when it fails.
std::optional<json> call(const CliArgs& args, const config::NodeConfig& config,
                         const std::string& method, const std::string& target,
                         const json& body, int& code) {
  std::map<std::string, std::string> headers{
      {"Content-Type", "application/json"}};
  if (!config.orchestration.api_key.empty())
    headers["X-API-Key"] = config.orchestration.api_key;
  auto response = web::http_request(base_url(args, config), method, target,
                                    body.is_null() ? "" : body.dump(), headers);
  if (!response) {
    std::cerr << "tasker-ctl: " << response.error().message() << "\n";
    code = kUnreachable;
    return std::nullopt;
  }
  auto parsed = json::parse(response->body, nullptr, false);
  if (response->status >= 400) {
    auto message = parsed.is_object() && parsed.contains("error")
                       ? parsed["error"].value("message", response->body)
                       : response->body;
    std::cerr << "tasker-ctl: " << method << " " << target << ": "
              << response->status << " " << message << "\n";
    code = kFailed;
    return std::nullopt;
  }
  code = kOk;
  return parsed;
}

std::string text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

void print_task(const json& task) {
  std::cout << "task      " << text(task["id"]) << "\n"
            << "template  " << text(task["namespace"]) << "/"
            << text(task["name"]) << " " << text(task.value("version", ""))
            << "\nstate     " << text(task["state"]) << "\ncontext   "
            << task["context"].dump() << "\n";
  if (!task.contains("steps"))
    return;
  std::printf("\n%-28s %-28s %8s  %s\n", "STEP", "STATE", "ATTEMPTS", "RESULT");
  for (const auto& step : task["steps"])
    std::printf("%-28s %-28s %8s  %s\n", text(step["name"]).c_str(),
                text(step["state"]).c_str(), text(step["attempts"]).c_str(),
                step.value("results", json()).dump().c_str());
}

int print(const CliArgs& args, const std::optional<json>& body, int code,
          void (*human)(const json&)) {
  if (!body)
    return code;
  if (args.json)
    std::cout << body->dump(2) << "\n";
  else
    human(*body);
  return kOk;
}

} // namespace

int task_command(const CliArgs& args, const config::NodeConfig& config) {
  const auto& command = args.words.at(1);
  auto ops = operands_of(args);
  int code = kOk;
  auto need = [&](std::size_t n, const char* shape) -> std::optional<int> {
    if (ops.positional.size() != n)
      return usage("task " + command + " takes " + shape);
    return std::nullopt;
  };
  if (command == "create") {
    if (ops.positional.empty() || ops.positional.size() > 2)
      return usage("task create takes NAMESPACE/NAME [CONTEXT_JSON] "
                   "[version=V] [key=K] [priority=N]");
    if (auto bad = unknown_option(ops, {"version", "key", "priority"}))
      return usage(*bad);
    auto slash = ops.positional[0].find('/');
    if (slash == std::string::npos)
      return usage("expected NAMESPACE/NAME, got '" + ops.positional[0] + "'");
    json body{{"namespace", ops.positional[0].substr(0, slash)},
              {"name", ops.positional[0].substr(slash + 1)},
              {"context", json::object()}};
    if (ops.positional.size() == 2) {
      body["context"] = json::parse(ops.positional[1], nullptr, false);
      if (!body["context"].is_object())
        return usage("CONTEXT_JSON must be a JSON object");
    }
    if (ops.options.contains("version"))
      body["version"] = ops.options["version"];
    if (ops.options.contains("key"))
      body["idempotency_key"] = ops.options["key"];
    if (ops.options.contains("priority"))
      body["priority"] = std::stoi(ops.options["priority"]);
    auto created = call(args, config, "POST", "/v1/tasks", body, code);
    return print(args, created, code, print_task);
  }
  if (command == "get" || command == "steps") {
    if (auto bad = need(1, "TASK_ID"))
      return *bad;
    auto task = call(args, config, "GET", "/v1/tasks/" + ops.positional[0],
                     nullptr, code);
    return print(args, task, code, print_task);
  }
  if (command == "list") {
    if (auto bad = need(0, "only options: state= namespace= name= limit= "
                           "offset="))
      return *bad;
    if (auto bad = unknown_option(
            ops, {"state", "namespace", "name", "limit", "offset"}))
      return usage(*bad);
    std::string target = "/v1/tasks";
    char sep = '?';
    for (const auto& [name, value] : ops.options) {
      target += sep + name + "=" + value;
      sep = '&';
    }
    auto page = call(args, config, "GET", target, nullptr, code);
    return print(args, page, code, [](const json& body) {
      std::printf("%-36s %-26s %s\n", "ID", "STATE", "TEMPLATE");
      for (const auto& task : body["tasks"])
        std::printf("%-36s %-26s %s/%s\n", text(task["id"]).c_str(),
                    text(task["state"]).c_str(),
                    text(task["namespace"]).c_str(),
                    text(task["name"]).c_str());
      std::cout << body["tasks"].size() << " of " << text(body["total"])
                << " task(s)\n";
    });
  }
  auto changed = [](const json& body) {
    std::cout << "task " << text(body["task_id"]) << " is now "
              << text(body["state"]) << "\n";
  };
  if (command == "cancel") {
    if (auto bad = need(1, "TASK_ID [reason=TEXT]"))
      return *bad;
    json body{{"reason", ops.options["reason"]}};
    auto done = call(args, config, "POST",
                     "/v1/tasks/" + ops.positional[0] + "/cancel", body, code);
    return print(args, done, code, changed);
  }
  std::map<std::string, std::string> actions{
      {"reset-step", "reset_for_retry"},
      {"resolve-step", "resolve_manually"},
      {"complete-step", "complete_manually"}};
  if (auto action = actions.find(command); action != actions.end()) {
    bool with_result = command == "complete-step";
    if (auto bad = need(with_result ? 3 : 2,
                        with_result ? "TASK_ID STEP_NAME RESULT_JSON"
                                    : "TASK_ID STEP_NAME"))
      return *bad;
    json body{{"action", action->second}};
    if (with_result) {
      body["result"] = json::parse(ops.positional[2], nullptr, false);
      if (body["result"].is_discarded())
        return usage("RESULT_JSON is not valid JSON");
    }
    auto done = call(args, config, "POST",
                     "/v1/tasks/" + ops.positional[0] + "/steps/"
                         + ops.positional[1] + "/actions",
                     body, code);
    return print(args, done, code, changed);
  }
  return usage("unknown task command '" + command + "'");
}

int dlq_command(const CliArgs& args, const config::NodeConfig& config) {
  const auto& command = args.words.at(1);
  auto ops = operands_of(args);
  int code = kOk;
  if (command == "list") {
    if (auto bad = unknown_option(ops, {"resolution", "limit"}))
      return usage(*bad);
    std::string target
        = "/v1/dlq?limit=" + ops.options.emplace("limit", "50").first->second;
    if (ops.options.contains("resolution"))
      target += "&resolution=" + ops.options["resolution"];
    auto entries = call(args, config, "GET", target, nullptr, code);
    return print(args, entries, code, [](const json& body) {
      std::printf("%-6s %-36s %-22s %-20s %s\n", "ID", "TASK", "REASON",
                  "RESOLUTION", "NOTES");
      for (const auto& e : body["dead_letters"])
        std::printf("%-6s %-36s %-22s %-20s %s\n", text(e["id"]).c_str(),
                    text(e["task_id"]).c_str(), text(e["reason"]).c_str(),
                    text(e["resolution"]).c_str(), text(e["notes"]).c_str());
    });
  }
  if (command == "update") {
    if (ops.positional.size() != 1 || !ops.options.contains("resolution"))
      return usage("dlq update takes ID resolution=R [notes=TEXT] [by=NAME]");
    if (auto bad = unknown_option(ops, {"resolution", "notes", "by"}))
      return usage(*bad);
    json body{{"resolution", ops.options["resolution"]},
              {"notes", ops.options["notes"]},
              {"resolved_by", ops.options["by"]}};
    auto entry = call(args, config, "PATCH", "/v1/dlq/" + ops.positional[0],
                      body, code);
    return print(args, entry, code, [](const json& e) {
      std::cout << "dead letter " << text(e["id"]) << " is now "
                << text(e["resolution"]) << "\n";
    });
  }
  return usage("unknown dlq command '" + command + "'");
}

int health_command(const CliArgs& args, const config::NodeConfig& config) {
  auto response
      = web::http_request(base_url(args, config), "GET", "/health/ready");
  if (!response) {
    std::cerr << "tasker-ctl: " << response.error().message() << "\n";
    return kUnreachable;
  }
  auto body = json::parse(response->body, nullptr, false);
  if (args.json || body.is_discarded())
    std::cout << response->body << "\n";
  else {
    std::cout << text(body["status"]) << "\n";
    for (const auto& [check, state] : body["checks"].items())
      std::cout << "  " << check << ": " << state.dump() << "\n";
  }
  return response->status == 200 ? kOk : kFailed;
}

int queue_command(const CliArgs& args, const config::NodeConfig& config) {
  const auto& command = args.words.at(1);
  if (command != "list" && command != "verify")
    return usage("unknown queue command '" + command + "'");
  auto provider = messaging::MessagingProvider::from_config(config);
  if (!provider) {
    std::cerr << "tasker-ctl: " << provider.error().message() << "\n";
    return kUnreachable;
  }
  if (command == "list") {
    auto queues = provider->list_queues();
    if (!queues) {
      std::cerr << "tasker-ctl: " << queues.error().message() << "\n";
      return kFailed;
    }
    json out = json::array();
    for (const auto& queue : *queues) {
      auto metrics = provider->metrics(queue);
      out.push_back({{"queue", queue},
                     {"depth", metrics ? metrics->depth : -1},
                     {"visible", metrics ? metrics->visible_depth : -1}});
    }
    if (args.json) {
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    std::printf("%-48s %8s %8s\n", "QUEUE", "DEPTH", "VISIBLE");
    for (const auto& q : out)
      std::printf("%-48s %8s %8s\n", text(q["queue"]).c_str(),
                  text(q["depth"]).c_str(), text(q["visible"]).c_str());
    return kOk;
  }
  auto catalog = config::TemplateCatalog::load(config.template_path);
  if (!catalog) {
    std::cerr << "tasker-ctl: templates: " << catalog.error().message() << "\n";
    return kFailed;
  }
  auto queues = config::orchestration_queue_names();
  for (const auto& queue : catalog->queue_names())
    queues.push_back(queue);
  auto report = provider->verify_queues(queues);
  if (!report) {
    std::cerr << "tasker-ctl: " << report.error().message() << "\n";
    return kFailed;
  }
  for (const auto& queue : report->healthy)
    std::cout << "ok       " << queue << "\n";
  for (const auto& queue : report->missing)
    std::cout << "missing  " << queue << "\n";
  for (const auto& [queue, why] : report->errors)
    std::cout << "error    " << queue << ": " << why << "\n";
  return report->all_healthy() ? kOk : kFailed;
}

} // namespace tasker::apps
