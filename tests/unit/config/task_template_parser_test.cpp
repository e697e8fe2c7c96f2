#include "config/task_template.hpp"
#include "config/template_parser.hpp"
#include "config/template_validator.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace tasker::config;
namespace fs = std::filesystem;
using tasker::testing::TempDir;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Returns the first diagnostic whose message contains `part`, or null.
const TemplateDiagnostic* find_diagnostic(const TemplateParseResult& result,
                                          std::string_view part) {
  for (const auto& d : result.diagnostics)
    if (contains(d.message, part))
      return &d;
  return nullptr;
}

constexpr std::string_view kFullTemplate = R"(name: full_template
namespace_name: full_ns
version: 2.1.0
description: "Every modelled key"
metadata:
  author: someone
  tags: [a, b]
input_schema:
  type: object
  required: [count]
  properties:
    count: {type: integer}
lifecycle:
  max_duration_minutes: 60
  max_waiting_for_dependencies_minutes: 20
  max_waiting_for_retry_minutes: 15
  max_steps_in_process_minutes: 25
  staleness_action: error
  auto_fail_on_timeout: true
  auto_dlq_on_timeout: false
steps:
  - name: first
    description: "The root"
    handler:
      callable: tasker.square
      method: run
      resolver: explicit_mapping
      initialization:
        input_key: count
        factor: 2
    type: standard
    dependencies: []
    retry:
      retryable: false
      max_attempts: 7
      backoff: linear
      backoff_base_ms: 250
      max_backoff_ms: 4000
    timeout_seconds: 12
  - name: second
    handler:
      callable: tasker.sum
    depends_on: [first]
)";

} // namespace

TEST_CASE("every example template parses and validates without findings") {
  const auto dir = fs::path{TASKER_SOURCE_DIR} / "examples" / "templates";
  for (auto file : {"linear_workflow.yaml", "diamond_workflow.yaml",
                    "mixed_dag_workflow.yaml", "tree_workflow.yaml"}) {
    CAPTURE(file);
    auto result = parse_template_file(dir / file);
    for (const auto& d : result.diagnostics)
      FAIL_CHECK(d.to_string());
    CHECK(result.diagnostics.empty());
    auto findings = validate_template(result.task_template);
    for (const auto& d : findings)
      FAIL_CHECK(d.to_string());
    CHECK(result.task_template.version == "1.0.0");
    CHECK(result.task_template.source_file == (dir / file).string());
    CHECK(result.task_template.input_schema["required"].is_array());
  }
}

TEST_CASE("every modelled key is parsed into the template") {
  auto result = parse_template(kFullTemplate, "full.yaml");
  REQUIRE(result.diagnostics.empty());
  const auto& tpl = result.task_template;
  CHECK(tpl.name == "full_template");
  CHECK(tpl.namespace_name == "full_ns");
  CHECK(tpl.version == "2.1.0");
  CHECK(tpl.description == "Every modelled key");
  CHECK(tpl.metadata["author"] == "someone");
  CHECK(tpl.metadata["tags"] == nlohmann::json::array({"a", "b"}));
  CHECK(tpl.input_schema["properties"]["count"]["type"] == "integer");
  CHECK(tpl.source_file == "full.yaml");
  CHECK(tpl.extra.empty());

  CHECK(tpl.lifecycle.max_duration_minutes == 60);
  CHECK(tpl.lifecycle.max_waiting_for_dependencies_minutes == 20);
  CHECK(tpl.lifecycle.max_waiting_for_retry_minutes == 15);
  CHECK(tpl.lifecycle.max_steps_in_process_minutes == 25);
  CHECK(tpl.lifecycle.staleness_action == StalenessAction::error);
  CHECK(tpl.lifecycle.auto_fail_on_timeout == true);
  CHECK(tpl.lifecycle.auto_dlq_on_timeout == false);

  REQUIRE(tpl.steps.size() == 2);
  const auto& first = tpl.steps[0];
  CHECK(first.name == "first");
  CHECK(first.description == "The root");
  CHECK(first.handler.callable == "tasker.square");
  CHECK(first.handler.method == "run");
  CHECK(first.handler.resolver == "explicit_mapping");
  CHECK(first.handler.initialization
        == nlohmann::json{{"input_key", "count"}, {"factor", 2}});
  CHECK(first.type == StepType::standard);
  CHECK(first.dependencies.empty());
  CHECK_FALSE(first.retry.retryable);
  CHECK(first.retry.max_attempts == 7);
  CHECK(first.retry.backoff == BackoffKind::linear);
  CHECK(first.retry.backoff_base_ms == 250);
  CHECK(first.retry.max_backoff_ms == 4000);
  CHECK(first.timeout_seconds == 12);
  CHECK(first.source_line == 22);
  CHECK(first.extra.empty());

  const auto& second = tpl.steps[1];
  CHECK(second.dependencies == std::vector<std::string>{"first"});
  CHECK(second.source_line == 40);
}

TEST_CASE("omitted keys take the reference system's defaults") {
  auto result = parse_template("name: t\nnamespace_name: ns\nversion: '1'\n"
                               "steps:\n  - name: only\n"
                               "    handler: {callable: tasker.noop}\n",
                               "defaults.yaml");
  REQUIRE(result.diagnostics.empty());
  const auto& tpl = result.task_template;
  CHECK(tpl.metadata.is_null());
  CHECK(tpl.input_schema.is_null());
  CHECK_FALSE(tpl.lifecycle.max_duration_minutes.has_value());
  CHECK_FALSE(tpl.lifecycle.staleness_action.has_value());
  const auto& step = tpl.steps.at(0);
  CHECK(step.type == StepType::standard);
  CHECK(step.handler.method == "call");
  CHECK_FALSE(step.handler.resolver.has_value());
  CHECK(step.handler.initialization == nlohmann::json::object());
  CHECK(step.retry.retryable);
  CHECK(step.retry.max_attempts == 3);
  CHECK(step.retry.backoff == BackoffKind::exponential);
  CHECK(step.retry.backoff_base_ms == 1000);
  CHECK(step.retry.max_backoff_ms == 30000);
  CHECK(step.retry.jitter_percent == 0);
  CHECK_FALSE(step.timeout_seconds.has_value());
}

TEST_CASE("retry.jitter_percent is parsed like the other retry integers") {
  auto result = parse_template(
      "steps:\n  - name: a\n    retry:\n      jitter_percent: 15\n",
      "jitter.yaml");
  REQUIRE(result.diagnostics.empty());
  CHECK(result.task_template.steps.at(0).retry.jitter_percent == 15);
  CHECK(result.task_template.steps.at(0).extra.empty());

  auto wrong = parse_template(
      "steps:\n  - name: a\n    retry:\n      jitter_percent: lots\n"
      "  - name: b\n    retry:\n      jitter_percent: 99999999999\n",
      "jitter.yaml");
  REQUIRE(wrong.diagnostics.size() == 2);
  CHECK(wrong.diagnostics[0].to_string()
        == "jitter.yaml:4: step 'a': key 'retry.jitter_percent': expected an "
           "integer, got 'lots'");
  CHECK(contains(wrong.diagnostics[1].message,
                 "'retry.jitter_percent': 99999999999 is out of range"));
  CHECK(wrong.task_template.steps.at(0).retry.jitter_percent == 0);

  auto typo = parse_template(
      "steps:\n  - name: a\n    retry:\n      jiter_percent: 10\n",
      "jitter.yaml");
  REQUIRE(typo.diagnostics.size() == 1);
  CHECK(typo.diagnostics[0].severity == DiagnosticSeverity::warning);
  CHECK(contains(typo.diagnostics[0].message,
                 "unknown key 'retry.jiter_percent' (did you mean "
                 "'jitter_percent'?)"));
}

TEST_CASE("all five step types parse under both spellings of the key") {
  for (auto type :
       {StepType::standard, StepType::decision, StepType::deferred_convergence,
        StepType::batchable, StepType::batch_worker}) {
    auto name = std::string{to_string(type)};
    CAPTURE(name);
    CHECK(parse_step_type(name) == type);
    for (auto key : {"type", "step_type"}) {
      auto yaml
          = "steps:\n  - name: s\n    " + std::string{key} + ": " + name + "\n";
      auto result = parse_template(yaml, "types.yaml");
      REQUIRE(result.diagnostics.empty());
      CHECK(result.task_template.steps.at(0).type == type);
    }
  }
  CHECK_FALSE(parse_step_type("Standard").has_value());
}

TEST_CASE("all four backoff kinds and three staleness actions parse") {
  for (auto kind : {BackoffKind::none, BackoffKind::linear,
                    BackoffKind::exponential, BackoffKind::fibonacci}) {
    auto name = std::string{to_string(kind)};
    CAPTURE(name);
    CHECK(parse_backoff_kind(name) == kind);
    auto result = parse_template(
        "steps:\n  - name: s\n    retry:\n      backoff: " + name + "\n",
        "backoff.yaml");
    REQUIRE(result.diagnostics.empty());
    CHECK(result.task_template.steps.at(0).retry.backoff == kind);
  }
  for (auto action :
       {StalenessAction::dlq, StalenessAction::error, StalenessAction::none}) {
    auto name = std::string{to_string(action)};
    CHECK(parse_staleness_action(name) == action);
    auto result = parse_template(
        "lifecycle:\n  staleness_action: " + name + "\n", "lifecycle.yaml");
    REQUIRE(result.diagnostics.empty());
    CHECK(result.task_template.lifecycle.staleness_action == action);
  }
  CHECK_FALSE(parse_backoff_kind("quadratic").has_value());
  CHECK_FALSE(parse_staleness_action("retry").has_value());
}

TEST_CASE("YAML scalars become JSON values of the matching type") {
  auto result = parse_template(R"(metadata:
  yes_bool: true
  upper_bool: FALSE
  quoted_bool: "true"
  integer: 42
  negative: -7
  hex: 0x1F
  float: 2.5
  exponent: 1e3
  infinity: .inf
  tilde: ~
  null_word: null
  empty:
  quoted_null: 'null'
  tagged: !!str 5
  word: yes
  version: 1.0.0
  huge: 123456789012345678901234567890
  block: |
    two
    lines
  nested: [1, {a: 2.0}]
)",
                               "scalars.yaml");
  REQUIRE(result.diagnostics.empty());
  const auto& m = result.task_template.metadata;
  CHECK(m["yes_bool"] == true);
  CHECK(m["upper_bool"] == false);
  CHECK(m["quoted_bool"] == "true");
  CHECK(m["integer"].is_number_integer());
  CHECK(m["integer"] == 42);
  CHECK(m["negative"] == -7);
  CHECK(m["hex"] == 31);
  CHECK(m["float"].is_number_float());
  CHECK(m["float"] == 2.5);
  CHECK(m["exponent"] == 1000.0);
  CHECK(std::isinf(m["infinity"].get<double>()));
  CHECK(m["tilde"].is_null());
  CHECK(m["null_word"].is_null());
  CHECK(m["empty"].is_null());
  CHECK(m["quoted_null"] == "null");
  CHECK(m["tagged"] == "5");
  CHECK(m["word"] == "yes");
  CHECK(m["version"] == "1.0.0");
  CHECK(m["huge"].is_number_float());
  CHECK(m["block"] == "two\nlines\n");
  CHECK(m["nested"] == nlohmann::json::parse(R"([1, {"a": 2.0}])"));
}

TEST_CASE("a reference template with reference-only keys loads silently") {
  // Shaped like the reference system's own fixtures: unquoted version,
  // null system_dependency, environments, events, batches, task_handler.
  auto result = parse_template(R"(---
name: csv_analyzer
namespace_name: csv_processing
version: 1.0.0
description: "Reference-style template"
metadata:
  author: someone
  documentation_url:
task_handler:
  callable: Csv::TaskHandler
  initialization: {mode: strict}
system_dependencies:
  primary: default
  secondary: []
domain_events:
  - name: csv.analyzed
    schema: {type: object}
input_schema:
  type: object
  required: [csv_file_path]
  properties:
    csv_file_path: {type: string}
steps:
  - name: analyze_csv
    type: batchable
    handler:
      callable: Csv::AnalyzerHandler
      resolver: class_constant
      initialization: {batch_size: 200}
    system_dependency:
    dependencies: []
    batch_config:
      batch_size: 200
      parallelism: 5
      cursor_field: row_number
      worker_template: process_batch
      failure_strategy: continue_on_failure
    publishes_events:
      - name: csv.analyzed
        condition: success
        delivery_mode: durable
        schema: {type: object}
    result_schema: {type: object}
    composition: {mode: sequential}
  - name: process_batch
    type: batch_worker
    dependencies: [analyze_csv]
    lifecycle:
      max_steps_in_process_minutes: 120
    handler:
      callable: Csv::BatchHandler
  - name: aggregate
    type: deferred_convergence
    dependencies: [process_batch]
    handler:
      callable: Csv::AggregateHandler
environments:
  test:
    steps:
      - name: ALL
        timeout_seconds: 30
        retry:
          max_attempts: 2
)",
                               "reference.yaml");
  for (const auto& d : result.diagnostics)
    FAIL_CHECK(d.to_string());
  CHECK(validate_template(result.task_template).empty());

  const auto& tpl = result.task_template;
  CHECK(tpl.version == "1.0.0");
  CHECK(tpl.metadata["documentation_url"].is_null());
  CHECK(tpl.extra["system_dependencies"]["primary"] == "default");
  CHECK(tpl.extra["domain_events"][0]["name"] == "csv.analyzed");
  CHECK(tpl.extra["environments"]["test"]["steps"][0]["timeout_seconds"] == 30);
  CHECK(tpl.extra["task_handler"]["callable"] == "Csv::TaskHandler");
  REQUIRE(tpl.steps.size() == 3);
  const auto& analyze = tpl.steps[0];
  CHECK(analyze.handler.resolver == "class_constant");
  CHECK(analyze.extra["system_dependency"].is_null());
  CHECK(analyze.extra["batch_config"]["worker_template"] == "process_batch");
  CHECK(analyze.extra["publishes_events"][0]["delivery_mode"] == "durable");
  CHECK(analyze.extra["result_schema"]["type"] == "object");
  CHECK(analyze.extra["composition"]["mode"] == "sequential");
  CHECK(tpl.steps[1].extra["lifecycle"]["max_steps_in_process_minutes"] == 120);
}

TEST_CASE("an unknown key is kept and warned about with file, line and hint") {
  auto result = parse_template(R"(name: t
namespace_name: ns
version: "1.0.0"
owner: platform-team
steps:
  - name: a
    handler:
      callable: tasker.noop
      calable: typo
  - name: b
    dependecies: [a]
    handler:
      callable: tasker.noop
    retry:
      limit: 5
)",
                               "unknown.yaml");
  CHECK(result.ok());
  REQUIRE(result.diagnostics.size() == 4);
  for (const auto& d : result.diagnostics)
    CHECK(d.severity == DiagnosticSeverity::warning);

  const auto* owner = find_diagnostic(result, "'owner'");
  REQUIRE(owner);
  CHECK(owner->file == "unknown.yaml");
  CHECK(owner->line == 4);
  CHECK_FALSE(owner->step.has_value());
  CHECK_FALSE(contains(owner->message, "did you mean"));

  const auto* calable = find_diagnostic(result, "'handler.calable'");
  REQUIRE(calable);
  CHECK(calable->line == 9);
  CHECK(calable->step == "a");
  CHECK(contains(calable->message, "did you mean 'callable'?"));

  const auto* deps = find_diagnostic(result, "'dependecies'");
  REQUIRE(deps);
  CHECK(deps->line == 11);
  CHECK(deps->step == "b");
  CHECK(contains(deps->message, "did you mean 'dependencies'?"));
  CHECK(deps->to_string()
        == "unknown.yaml:11: step 'b': unknown key 'dependecies' (did you "
           "mean 'dependencies'?); it is kept but has no effect");

  const auto* limit = find_diagnostic(result, "'retry.limit'");
  REQUIRE(limit);
  CHECK(limit->line == 15);

  const auto& tpl = result.task_template;
  CHECK(tpl.extra["owner"] == "platform-team");
  CHECK(tpl.steps[0].extra["handler"]["calable"] == "typo");
  CHECK(tpl.steps[1].extra["dependecies"] == nlohmann::json::array({"a"}));
  CHECK(tpl.steps[1].extra["retry"]["limit"] == 5);
  CHECK(tpl.steps[1].dependencies.empty());
}

TEST_CASE("suggestions catch transpositions but not far-fetched matches") {
  auto result = parse_template("nmae: t\nbase: x\nsteps:\n  - name: a\n"
                               "    tpye: standard\n    retyr: {}\n",
                               "hints.yaml");
  REQUIRE(result.diagnostics.size() == 4);
  CHECK(contains(result.diagnostics[0].message, "did you mean 'name'?"));
  CHECK_FALSE(contains(result.diagnostics[1].message, "did you mean"));
  CHECK(contains(result.diagnostics[2].message, "did you mean 'type'?"));
  CHECK(contains(result.diagnostics[3].message, "did you mean 'retry'?"));
}

TEST_CASE("an alias inside its own anchor is an error, not a crash") {
  auto result
      = parse_template("metadata: &self\n  again: *self\n", "alias.yaml");
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].severity == DiagnosticSeverity::error);
  CHECK(contains(result.diagnostics[0].message,
                 "key 'metadata': nested deeper than 64 levels"));
}

TEST_CASE("malformed YAML is an error naming the file and line") {
  TempDir dir;
  auto file = dir.write("broken.yaml", "name: broken\n"
                                       "namespace_name: ns\n"
                                       "steps:\n"
                                       "  - name: a\n"
                                       "    dependencies: [x, y\n"
                                       "  - name: b\n");
  auto result = parse_template_file(file);
  CHECK_FALSE(result.ok());
  REQUIRE(result.diagnostics.size() == 1);
  const auto& d = result.diagnostics[0];
  CHECK(d.severity == DiagnosticSeverity::error);
  CHECK(d.file == file.string());
  CHECK(d.line == 6);
  CHECK(contains(d.message, "malformed YAML"));
  CHECK(contains(d.to_string(), file.string() + ":" + std::to_string(d.line)
                                    + ": malformed YAML"));
}

TEST_CASE("documents that are not one template mapping are errors") {
  auto empty = parse_template("# only a comment\n", "empty.yaml");
  REQUIRE(empty.diagnostics.size() == 1);
  CHECK(contains(empty.diagnostics[0].message, "no YAML document"));

  auto two = parse_template("name: a\n---\nname: b\n", "two.yaml");
  REQUIRE(two.diagnostics.size() == 1);
  CHECK(contains(two.diagnostics[0].message, "one YAML document, found 2"));

  auto list = parse_template("- a\n- b\n", "list.yaml");
  REQUIRE(list.diagnostics.size() == 1);
  CHECK(contains(list.diagnostics[0].message, "expected a mapping"));
  CHECK(list.diagnostics[0].line == 1);
}

TEST_CASE("a missing file is an error naming it") {
  auto missing = parse_template_file("/nonexistent/tasker/t.yaml");
  REQUIRE(missing.diagnostics.size() == 1);
  CHECK(missing.diagnostics[0].file == "/nonexistent/tasker/t.yaml");
  CHECK(contains(missing.diagnostics[0].message, "no such file"));
}

TEST_CASE("values of the wrong type are errors naming line, step and key") {
  auto result = parse_template(R"(name: [not, a, string]
namespace_name: ns
version: "1.0.0"
metadata: just text
lifecycle:
  max_duration_minutes: soon
  staleness_action: explode
steps:
  - name: a
    handler: tasker.noop
    retry:
      max_attempts: many
      retryable: yes
      backoff: quadratic
      backoff_base_ms: 1.5
    timeout_seconds: "30"
    dependencies: b
    type: parallel
  - just a string
  - handler:
      callable: {nested: true}
)",
                               "types.yaml");
  CHECK_FALSE(result.ok());

  struct Expected {
    std::string_view part;
    int line;
    std::optional<std::string> step;
  };
  const std::vector<Expected> expected{
      {"key 'name': expected a string, got a list", 1, std::nullopt},
      {"key 'metadata': expected a mapping, got 'just text'", 4, std::nullopt},
      {"key 'lifecycle.max_duration_minutes': expected an integer, got 'soon'",
       6, std::nullopt},
      {"key 'lifecycle.staleness_action': unknown value 'explode'", 7,
       std::nullopt},
      {"key 'handler': expected a mapping, got 'tasker.noop'", 10, "a"},
      {"key 'retry.max_attempts': expected an integer, got 'many'", 12, "a"},
      {"key 'retry.retryable': expected true or false, got 'yes'", 13, "a"},
      {"key 'retry.backoff': unknown value 'quadratic' (expected one of: none, "
       "linear, exponential, fibonacci)",
       14, "a"},
      {"key 'retry.backoff_base_ms': expected an integer, got '1.5'", 15, "a"},
      {"key 'timeout_seconds': expected an integer, got the string \"30\"", 16,
       "a"},
      {"key 'dependencies': expected a list of step names, got 'b'", 17, "a"},
      {"key 'type': unknown value 'parallel'", 18, "a"},
      {"key 'steps[1]': expected a step mapping, got 'just a string'", 19,
       std::nullopt},
      {"key 'steps[2].handler.callable': expected a string, got a mapping", 21,
       std::nullopt},
  };
  CHECK(result.diagnostics.size() == expected.size());
  for (const auto& e : expected) {
    CAPTURE(e.part);
    const auto* d = find_diagnostic(result, e.part);
    REQUIRE(d);
    CHECK(d->severity == DiagnosticSeverity::error);
    CHECK(d->file == "types.yaml");
    CHECK(d->line == e.line);
    CHECK(d->step == e.step);
  }
  // A rejected value leaves the default in place.
  CHECK(result.task_template.steps.at(0).retry.max_attempts == 3);

  auto steps = parse_template("name: t\nsteps: not a list\n", "steps.yaml");
  REQUIRE(steps.diagnostics.size() == 1);
  CHECK(steps.diagnostics[0].to_string()
        == "steps.yaml:2: key 'steps': expected a list of steps, got 'not a "
           "list'");
}

TEST_CASE("numbers outside the field's range are errors") {
  auto result = parse_template(
      "steps:\n  - name: a\n    timeout_seconds: 99999999999\n"
      "    retry:\n      max_backoff_ms: 99999999999999999999\n",
      "range.yaml");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(contains(result.diagnostics[0].message,
                 "'timeout_seconds': 99999999999 is out of range"));
  CHECK(contains(result.diagnostics[1].message, "'retry.max_backoff_ms'"));
}

TEST_CASE("a repeated key or both spellings of an alias are errors") {
  auto result = parse_template(R"(name: a
name: b
steps:
  - name: s
    dependencies: [x]
    depends_on: [y]
    type: standard
    step_type: decision
)",
                               "dup.yaml");
  REQUIRE(result.diagnostics.size() == 3);
  CHECK(result.diagnostics[0].line == 2);
  CHECK(contains(result.diagnostics[0].message, "key 'name' appears twice"));
  CHECK(result.task_template.name == "a");
  CHECK(result.diagnostics[1].line == 6);
  CHECK(result.diagnostics[1].step == "s");
  CHECK(contains(result.diagnostics[1].message,
                 "'depends_on' repeats 'dependencies'"));
  CHECK(contains(result.diagnostics[2].message, "'step_type' repeats 'type'"));
  const auto& step = result.task_template.steps.at(0);
  CHECK(step.dependencies == std::vector<std::string>{"x"});
  CHECK(step.type == StepType::standard);
}

TEST_CASE("a template finds its steps and names its worker queue") {
  auto result = parse_template(kFullTemplate, "full.yaml");
  const auto& tpl = result.task_template;
  REQUIRE(tpl.find_step("second"));
  CHECK(tpl.find_step("second")->handler.callable == "tasker.sum");
  CHECK(tpl.find_step("third") == nullptr);
  CHECK(tpl.queue_name() == "worker_full_ns_queue");
}

TEST_CASE("topological order and levels follow the dependencies") {
  TaskTemplate tpl;
  tpl.name = "dag";
  auto add = [&](std::string name, std::vector<std::string> deps) {
    StepDefinition step;
    step.name = std::move(name);
    step.dependencies = std::move(deps);
    tpl.steps.push_back(std::move(step));
  };
  // Declared out of order on purpose.
  add("end", {"left", "right"});
  add("right", {"start"});
  add("start", {});
  add("left", {"start"});
  add("side", {});

  auto order = tpl.topological_order();
  REQUIRE(order.ok());
  CHECK(*order
        == std::vector<std::string>{"start", "right", "left", "end", "side"});
  auto levels = tpl.dependency_levels();
  REQUIRE(levels.ok());
  CHECK(*levels
        == std::vector<std::vector<std::string>>{
            {"start", "side"}, {"right", "left"}, {"end"}});

  add("loop_a", {"loop_b"});
  add("loop_b", {"loop_a"});
  auto cyclic = tpl.topological_order();
  REQUIRE_FALSE(cyclic.ok());
  CHECK(cyclic.error().code() == tasker::core::ErrorCode::invalid_template);
  CHECK(contains(cyclic.error().message(), "'loop_a', 'loop_b'"));
  CHECK_FALSE(tpl.dependency_levels().ok());

  tpl.steps.pop_back();
  tpl.steps.pop_back();
  add("orphan", {"ghost"});
  auto unknown = tpl.dependency_levels();
  REQUIRE_FALSE(unknown.ok());
  CHECK(contains(unknown.error().message(),
                 "'orphan' depends on unknown step 'ghost'"));
}
