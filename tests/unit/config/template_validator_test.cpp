#include "config/template_validator.hpp"

#include "config/template_parser.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace tasker::config;

namespace {

constexpr std::string_view kFile = "rules.yaml";

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A valid template header; tests append their steps.
std::string with_steps(std::string_view steps) {
  return "name: rules\nnamespace_name: rules_ns\nversion: \"1.0.0\"\nsteps:\n"
         + std::string{steps};
}

std::vector<TemplateDiagnostic> validate_yaml(const std::string& yaml) {
  auto parsed = parse_template(yaml, std::string{kFile});
  REQUIRE(parsed.diagnostics.empty());
  return validate_template(parsed.task_template);
}

// Asserts that exactly one diagnostic about `step` contains `reason`, that
// it is an error naming the file (and a line when about a step), and
// returns it.
TemplateDiagnostic expect_error(const std::vector<TemplateDiagnostic>& found,
                                std::string_view reason,
                                std::optional<std::string> step) {
  std::vector<TemplateDiagnostic> matches;
  for (const auto& d : found)
    if (contains(d.message, reason) && d.step == step)
      matches.push_back(d);
  CAPTURE(reason);
  REQUIRE(matches.size() == 1);
  const auto& d = matches.front();
  CHECK(d.severity == DiagnosticSeverity::error);
  CHECK(d.file == kFile);
  if (step)
    CHECK(d.line > 0);
  return d;
}

constexpr std::string_view kStepA = "  - name: a\n"
                                    "    handler: {callable: tasker.noop}\n";

} // namespace

TEST_CASE("a well-formed template has no findings") {
  CHECK(validate_yaml(with_steps(std::string{kStepA}
                                 + "  - name: b.v2\n"
                                   "    type: decision\n"
                                   "    depends_on: [a]\n"
                                   "    handler: {callable: tasker.noop}\n"))
            .empty());
}

TEST_CASE("missing name, namespace, version and steps are all reported") {
  auto found = validate_yaml("description: nothing else\n");
  CHECK(found.size() == 4);
  expect_error(found, "missing required key 'name'", std::nullopt);
  expect_error(found, "missing required key 'namespace_name'", std::nullopt);
  expect_error(found, "missing required key 'version'", std::nullopt);
  auto steps
      = expect_error(found, "missing required key 'steps'", std::nullopt);
  CHECK(steps.to_string()
        == "rules.yaml: missing required key 'steps': a template needs at "
           "least one step");
}

TEST_CASE("duplicate step names are errors naming the first definition") {
  auto found
      = validate_yaml(with_steps(std::string{kStepA} + std::string{kStepA}));
  auto d = expect_error(found, "duplicate step name 'a'", "a");
  CHECK(d.line == 7);
  CHECK(contains(d.message, "first defined on line 5"));
}

TEST_CASE("a dependency on a missing step is an error") {
  auto found = validate_yaml(with_steps(std::string{kStepA}
                                        + "  - name: b\n"
                                          "    dependencies: [a, ghost]\n"
                                          "    handler: {callable: x}\n"));
  auto d = expect_error(found, "depends on unknown step 'ghost'", "b");
  CHECK(d.to_string()
        == "rules.yaml:7: step 'b': depends on unknown step 'ghost'");
}

TEST_CASE("a step depending on itself is an error") {
  auto found = validate_yaml(with_steps("  - name: a\n"
                                        "    dependencies: [a]\n"
                                        "    handler: {callable: x}\n"));
  expect_error(found, "step depends on itself", "a");
  CHECK(found.size() == 1);
}

TEST_CASE("a dependency cycle is named step by step") {
  auto found = validate_yaml(with_steps("  - name: root\n"
                                        "    handler: {callable: x}\n"
                                        "  - name: c\n"
                                        "    dependencies: [root, b]\n"
                                        "    handler: {callable: x}\n"
                                        "  - name: a\n"
                                        "    dependencies: [c]\n"
                                        "    handler: {callable: x}\n"
                                        "  - name: b\n"
                                        "    dependencies: [a]\n"
                                        "    handler: {callable: x}\n"));
  auto d = expect_error(found, "dependency cycle: c -> a -> b -> c", "c");
  CHECK(d.line == 7);
  CHECK(found.size() == 1);
}

TEST_CASE("independent cycles are each reported once") {
  auto found = validate_yaml(with_steps("  - name: a\n"
                                        "    dependencies: [b]\n"
                                        "    handler: {callable: x}\n"
                                        "  - name: b\n"
                                        "    dependencies: [a, a]\n"
                                        "    handler: {callable: x}\n"
                                        "  - name: x\n"
                                        "    dependencies: [y]\n"
                                        "    handler: {callable: x}\n"
                                        "  - name: y\n"
                                        "    dependencies: [x]\n"
                                        "    handler: {callable: x}\n"));
  expect_error(found, "dependency cycle: a -> b -> a", "a");
  expect_error(found, "dependency cycle: x -> y -> x", "x");
  // The doubled dependency is a warning, not a second cycle.
  REQUIRE(found.size() == 3);
  CHECK(found[0].severity == DiagnosticSeverity::warning);
  CHECK(found[0].step == "b");
  CHECK(contains(found[0].message, "dependency 'a' is listed twice"));
}

TEST_CASE("template and step names must follow the naming rule") {
  CHECK_FALSE(name_problem("order_fulfillment").has_value());
  CHECK_FALSE(name_problem("_private.v2-beta").has_value());
  CHECK_FALSE(name_problem(std::string(64, 'n')).has_value());
  CHECK(contains(*name_problem(""), "empty"));
  CHECK(contains(*name_problem(std::string(65, 'n')),
                 "65 characters, the maximum is 64"));
  CHECK(contains(*name_problem("9lives"), "starts with '9'"));
  CHECK(contains(*name_problem("-dash"), "starts with '-'"));
  CHECK(contains(*name_problem("has space"), "' ' at position 4"));

  auto found = validate_yaml(
      "name: 1st template\nnamespace_name: ns\nversion: '1'\nsteps:\n"
      "  - name: bad/step\n    handler: {callable: x}\n"
      "  - name: "
      + std::string(65, 's') + "\n    handler: {callable: x}\n");
  REQUIRE(found.size() == 3);
  expect_error(found,
               "invalid template name '1st template': it starts with "
               "'1'",
               std::nullopt);
  expect_error(found,
               "invalid step name 'bad/step': it contains '/' at "
               "position 4",
               "bad/step");
  expect_error(found, "65 characters, the maximum is 64", std::string(65, 's'));
}

TEST_CASE("the namespace must be a valid queue namespace") {
  auto too_long
      = validate_yaml("name: t\nnamespace_name: " + std::string(31, 'n')
                      + "\nversion: '1'\nsteps:\n" + std::string{kStepA});
  auto d = expect_error(too_long, "31 characters, the maximum is 30",
                        std::nullopt);
  CHECK(contains(d.message, "worker_"));
  auto upper = validate_yaml("name: t\nnamespace_name: Payments\nversion: '1'\n"
                             "steps:\n"
                             + std::string{kStepA});
  expect_error(upper, "invalid namespace 'Payments'", std::nullopt);
}

TEST_CASE("retry settings and timeouts must be in range") {
  auto found = validate_yaml(with_steps("  - name: a\n"
                                        "    handler: {callable: x}\n"
                                        "    retry:\n"
                                        "      max_attempts: 0\n"
                                        "    timeout_seconds: 0\n"
                                        "  - name: b\n"
                                        "    handler: {callable: x}\n"
                                        "    retry:\n"
                                        "      backoff_base_ms: -5\n"
                                        "    timeout_seconds: -1\n"
                                        "  - name: c\n"
                                        "    handler: {callable: x}\n"
                                        "    retry:\n"
                                        "      backoff_base_ms: 5000\n"
                                        "      max_backoff_ms: 1000\n"));
  CHECK(found.size() == 5);
  expect_error(found, "'retry.max_attempts' must be at least 1, got 0", "a");
  expect_error(found, "'timeout_seconds' must be positive, got 0", "a");
  expect_error(found, "'retry.backoff_base_ms' must not be negative, got -5",
               "b");
  expect_error(found, "'timeout_seconds' must be positive, got -1", "b");
  expect_error(found,
               "'retry.max_backoff_ms' (1000) must not be less than "
               "'retry.backoff_base_ms' (5000)",
               "c");
}

TEST_CASE("retry.jitter_percent must be between 0 and 100") {
  auto found = validate_yaml(with_steps("  - name: a\n"
                                        "    handler: {callable: x}\n"
                                        "    retry: {jitter_percent: -1}\n"
                                        "  - name: b\n"
                                        "    handler: {callable: x}\n"
                                        "    retry: {jitter_percent: 101}\n"
                                        "  - name: c\n"
                                        "    handler: {callable: x}\n"
                                        "    retry: {jitter_percent: 0}\n"
                                        "  - name: d\n"
                                        "    handler: {callable: x}\n"
                                        "    retry: {jitter_percent: 100}\n"));
  CHECK(found.size() == 2);
  expect_error(found,
               "'retry.jitter_percent' must be between 0 and 100, got -1", "a");
  expect_error(
      found, "'retry.jitter_percent' must be between 0 and 100, got 101", "b");
}

TEST_CASE("a decision step without a parent is an error") {
  auto found = validate_yaml(with_steps("  - name: route\n"
                                        "    type: decision\n"
                                        "    handler: {callable: x}\n"));
  expect_error(found, "a decision step needs a parent", "route");
}

TEST_CASE("a step without a handler callable is an error") {
  auto found = validate_yaml(with_steps("  - name: a\n"
                                        "  - name: b\n"
                                        "    handler: {callable: '', "
                                        "method: ''}\n"));
  CHECK(found.size() == 3);
  expect_error(found, "missing required key 'handler.callable'", "a");
  expect_error(found, "missing required key 'handler.callable'", "b");
  expect_error(found, "'handler.method' must not be empty", "b");
}

TEST_CASE("an unnamed step is reported by position") {
  auto found = validate_yaml(with_steps("  - handler: {callable: x}\n"));
  auto d = expect_error(found, "steps[0]: missing required key 'name'",
                        std::nullopt);
  CHECK(d.line == 5);
}

TEST_CASE("lifecycle thresholds must be at least one minute") {
  auto found = validate_yaml(with_steps(kStepA)
                             + "lifecycle:\n  max_duration_minutes: 0\n"
                               "  max_waiting_for_retry_minutes: -3\n");
  CHECK(found.size() == 2);
  expect_error(found, "'lifecycle.max_duration_minutes' must be at least 1",
               std::nullopt);
  expect_error(found,
               "'lifecycle.max_waiting_for_retry_minutes' must be at least 1, "
               "got -3",
               std::nullopt);
}

TEST_CASE("every problem of a template is reported, not just the first") {
  auto found = validate_yaml("name: ok\nnamespace_name: BAD\nversion: '1'\n"
                             "steps:\n"
                             "  - name: a\n"
                             "    dependencies: [a, missing]\n"
                             "    retry: {max_attempts: 0}\n"
                             "  - name: a\n"
                             "    type: decision\n"
                             "    handler: {callable: x}\n");
  CHECK(found.size() == 7);
  for (const auto& d : found)
    CHECK(d.severity == DiagnosticSeverity::error);
}
