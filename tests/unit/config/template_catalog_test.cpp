#include "config/template_catalog.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace tasker::config;
using tasker::core::ErrorCode;
namespace fs = std::filesystem;
using tasker::testing::TempDir;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::string simple_template(std::string_view ns, std::string_view name,
                            std::string_view version) {
  return "name: " + std::string{name} + "\nnamespace_name: " + std::string{ns}
         + "\nversion: \"" + std::string{version}
         + "\"\nsteps:\n  - name: only\n    handler:\n"
           "      callable: tasker.noop\n";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (auto pos = text.find('\n'); pos != std::string::npos;
       pos = text.find('\n', start)) {
    lines.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
  lines.push_back(text.substr(start));
  return lines;
}

} // namespace

TEST_CASE("versions compare by semantic versioning") {
  CHECK(compare_versions("1.0.0", "1.0.0") == 0);
  CHECK(compare_versions("1.0", "1.0.0") == 0);
  CHECK(compare_versions("1.2.0", "1.10.0") < 0);
  CHECK(compare_versions("2.0.0", "1.99.99") > 0);
  CHECK(compare_versions("1.0.0-rc.1", "1.0.0") < 0);
  CHECK(compare_versions("1.0.0-alpha", "1.0.0-alpha.1") < 0);
  CHECK(compare_versions("1.0.0-alpha.2", "1.0.0-alpha.10") < 0);
  CHECK(compare_versions("1.0.0-1", "1.0.0-alpha") < 0);
  CHECK(compare_versions("1.0.0+build.5", "1.0.0+build.7") == 0);
  CHECK(compare_versions("00012.0", "9.0") > 0);
}

TEST_CASE("a directory loads recursively in sorted order") {
  TempDir dir;
  dir.write("b_orders.yaml", simple_template("orders", "place_order", "1.0.0"));
  dir.write("nested/a_billing.yml",
            simple_template("billing", "charge_card", "1.0.0"));
  dir.write("nested/deeper/orders_v2.yaml",
            simple_template("orders", "place_order", "1.10.0"));
  dir.write("nested/deeper/orders_v1_2.yaml",
            simple_template("orders", "place_order", "1.2.0"));
  dir.write("README.md", "not a template");
  dir.write("notes.txt", "name: [");

  auto catalog = TemplateCatalog::load(dir.path());
  REQUIRE_MESSAGE(catalog.ok(), catalog.error().to_string());
  const auto& templates = catalog->templates();
  REQUIRE(templates.size() == 4);
  CHECK(templates[0].source_file == (dir.path() / "b_orders.yaml").string());
  CHECK(templates[1].source_file
        == (dir.path() / "nested/a_billing.yml").string());
  CHECK(templates[2].version == "1.2.0");
  CHECK(templates[3].version == "1.10.0");
  CHECK(catalog->warnings().empty());

  CHECK(catalog->namespaces() == std::vector<std::string>{"billing", "orders"});
  CHECK(catalog->queue_names()
        == std::vector<std::string>{"worker_billing_queue",
                                    "worker_orders_queue"});

  const auto* latest = catalog->find("orders", "place_order");
  REQUIRE(latest);
  CHECK(latest->version == "1.10.0");
  const auto* pinned = catalog->find("orders", "place_order", "1.0.0");
  REQUIRE(pinned);
  CHECK(pinned->source_file == templates[0].source_file);
  CHECK(catalog->find("orders", "place_order", "3.0.0") == nullptr);
  CHECK(catalog->find("billing", "place_order") == nullptr);
  CHECK(catalog->find("nowhere", "charge_card") == nullptr);
}

TEST_CASE("a single file loads as a catalog of one") {
  TempDir dir;
  auto file
      = dir.write("one.template", simple_template("solo", "only_one", "0.1.0"));
  auto catalog = TemplateCatalog::load(file);
  REQUIRE_MESSAGE(catalog.ok(), catalog.error().to_string());
  REQUIRE(catalog->templates().size() == 1);
  CHECK(catalog->find("solo", "only_one") != nullptr);
}

TEST_CASE("the same template in two files is rejected naming both files") {
  TempDir dir;
  auto first = dir.write("a.yaml", simple_template("orders", "place", "1.0.0"));
  auto second
      = dir.write("b.yaml", simple_template("orders", "place", "1.0.0"));
  dir.write("c.yaml", simple_template("orders", "place", "1.0.1"));
  auto catalog = TemplateCatalog::load(dir.path());
  REQUIRE_FALSE(catalog.ok());
  CHECK(catalog.error().code() == ErrorCode::invalid_template);
  CHECK(catalog.error().message()
        == second.string()
               + ": template 'orders/place' version '1.0.0' is "
                 "already defined in '"
               + first.string() + "'");
}

TEST_CASE("a missing or empty directory is an error naming the path") {
  TempDir dir;
  auto missing = TemplateCatalog::load(dir.path() / "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == ErrorCode::io_error);
  CHECK(contains(missing.error().message(),
                 (dir.path() / "nope").string() + "' does not exist"));

  dir.write("only.txt", "nothing here");
  auto empty = TemplateCatalog::load(dir.path());
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code() == ErrorCode::not_found);
  CHECK(contains(empty.error().message(), dir.path().string()));
}

TEST_CASE("every error of every file is listed, one per line") {
  TempDir dir;
  auto broken = dir.write("a_broken.yaml", "name: [unclosed\n");
  auto invalid = dir.write("b_invalid.yaml",
                           "name: bad\nnamespace_name: ns\nversion: '1'\n"
                           "steps:\n"
                           "  - name: a\n"
                           "    dependencies: [ghost]\n"
                           "    handler: {callable: x}\n"
                           "    retry: {max_attempts: 0}\n");
  auto warned
      = dir.write("c_warned.yaml",
                  simple_template("ns", "fine", "1.0.0") + "colour: blue\n");
  std::vector<TemplateDiagnostic> diagnostics;
  auto catalog = TemplateCatalog::load(dir.path(), &diagnostics);
  REQUIRE_FALSE(catalog.ok());
  CHECK(catalog.error().code() == ErrorCode::invalid_template);

  auto lines = lines_of(catalog.error().message());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].starts_with(broken.string() + ":"));
  CHECK(contains(lines[0], "malformed YAML"));
  CHECK(lines[1]
        == invalid.string() + ":5: step 'a': depends on unknown step 'ghost'");
  CHECK(lines[2]
        == invalid.string()
               + ":5: step 'a': key 'retry.max_attempts' must be at least 1, "
                 "got 0");

  REQUIRE(diagnostics.size() == 4);
  CHECK(diagnostics[3].severity == DiagnosticSeverity::warning);
  CHECK(diagnostics[3].file == warned.string());
  CHECK(diagnostics[3].line == 8);
  CHECK(contains(diagnostics[3].message, "unknown key 'colour'"));
}

TEST_CASE("warnings are kept on a catalog that loads") {
  TempDir dir;
  dir.write("t.yaml", simple_template("ns", "t", "1.0.0") + "colour: blue\n");
  std::vector<TemplateDiagnostic> diagnostics;
  auto catalog = TemplateCatalog::load(dir.path(), &diagnostics);
  REQUIRE(catalog.ok());
  REQUIRE(catalog->warnings().size() == 1);
  CHECK(contains(catalog->warnings()[0].to_string(),
                 "t.yaml:8: unknown key 'colour'"));
  CHECK(diagnostics.size() == 1);
}

TEST_CASE("the example templates form a catalog of four workflows") {
  auto catalog = TemplateCatalog::load(std::string{TASKER_SOURCE_DIR}
                                       + "/examples/templates");
  REQUIRE_MESSAGE(catalog.ok(), catalog.error().to_string());
  CHECK(catalog->warnings().empty());
  CHECK(catalog->namespaces()
        == std::vector<std::string>{"diamond_workflow", "linear_workflow",
                                    "mixed_dag_workflow", "tree_workflow"});
  CHECK(catalog->queue_names()
        == std::vector<std::string>{
            "worker_diamond_workflow_queue", "worker_linear_workflow_queue",
            "worker_mixed_dag_workflow_queue", "worker_tree_workflow_queue"});

  using Levels = std::vector<std::vector<std::string>>;
  const auto* linear
      = catalog->find("linear_workflow", "mathematical_sequence", "1.0.0");
  REQUIRE(linear);
  CHECK(*linear->dependency_levels()
        == Levels{{"linear_step_1"},
                  {"linear_step_2"},
                  {"linear_step_3"},
                  {"linear_step_4"}});

  const auto* diamond = catalog->find("diamond_workflow", "diamond_pattern");
  REQUIRE(diamond);
  CHECK(*diamond->dependency_levels()
        == Levels{{"diamond_start"},
                  {"diamond_branch_left", "diamond_branch_right"},
                  {"diamond_end"}});

  const auto* dag = catalog->find("mixed_dag_workflow", "complex_dag");
  REQUIRE(dag);
  CHECK(dag->steps.size() == 7);
  CHECK(*dag->dependency_levels()
        == Levels{{"init"},
                  {"process_a", "process_b"},
                  {"validate_a", "transform_a", "transform_b"},
                  {"finalize"}});
  CHECK(dag->lifecycle.staleness_action == StalenessAction::dlq);
  CHECK(dag->lifecycle.max_duration_minutes == 30);

  const auto* tree = catalog->find("tree_workflow", "hierarchical_tree");
  REQUIRE(tree);
  CHECK(tree->steps.size() == 8);
  const auto* join = tree->find_step("tree_final_convergence");
  REQUIRE(join);
  CHECK(join->dependencies.size() == 4);
  CHECK(tree->dependency_levels()->size() == 4);

  for (const auto& tpl : catalog->templates()) {
    CHECK(tpl.version == "1.0.0");
    CHECK_FALSE(tpl.description.empty());
    CHECK(tpl.input_schema["properties"]["even_number"]["type"] == "integer");
    for (const auto& step : tpl.steps)
      CHECK(step.handler.callable.starts_with("tasker."));
  }
}
