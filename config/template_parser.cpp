#include "config/template_parser.hpp"

#include "core/edit_distance.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace tasker::config {

namespace {

using json = nlohmann::json;
using Keys = std::span<const std::string_view>;

// -- the key sets of the reference format -------------------------------------

// Keys Tasker models, per mapping.
constexpr std::string_view kTemplateKeys[]{
    "name",     "namespace_name", "version", "description",
    "metadata", "input_schema",   "steps",   "lifecycle"};
constexpr std::string_view kStepKeys[]{
    "name",  "description",  "handler",    "type",           "step_type",
    "retry", "dependencies", "depends_on", "timeout_seconds"};
constexpr std::string_view kHandlerKeys[]{"callable", "method", "resolver",
                                          "initialization"};
constexpr std::string_view kRetryKeys[]{"retryable",      "max_attempts",
                                        "backoff",        "backoff_base_ms",
                                        "max_backoff_ms", "jitter_percent"};
constexpr std::string_view kLifecycleKeys[]{
    "max_duration_minutes",
    "max_waiting_for_dependencies_minutes",
    "max_waiting_for_retry_minutes",
    "max_steps_in_process_minutes",
    "staleness_action",
    "auto_fail_on_timeout",
    "auto_dlq_on_timeout"};

// Keys the reference format defines but Tasker does not execute yet: kept
// in `extra` without a warning. A step-level `lifecycle` occurs in the
// reference's own batch fixtures although its parser ignores it.
constexpr std::string_view kTemplateKeptKeys[]{
    "system_dependencies", "domain_events", "environments", "task_handler"};
constexpr std::string_view kStepKeptKeys[]{
    "system_dependency", "publishes_events", "batch_config",
    "result_schema",     "composition",      "lifecycle"};

bool contains(Keys keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Returns the closest known or kept key, or empty.
std::string suggest(std::string_view key, Keys known, Keys kept) {
  std::vector<std::string> candidates;
  for (auto keys : {known, kept})
    for (auto candidate : keys)
      candidates.emplace_back(candidate);
  return core::closest_match(key, candidates);
}

// -- YAML 1.2 core schema scalars ---------------------------------------------

bool is_plain(const YAML::Node& node) {
  return node.Tag() == "?";
}

bool is_null_word(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_word(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE")
    return true;
  if (s == "false" || s == "False" || s == "FALSE")
    return false;
  return std::nullopt;
}

bool all_digits(std::string_view s, int base) {
  auto digit = [base](char c) {
    if (base == 16)
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
             || (c >= 'A' && c <= 'F');
    return c >= '0' && c < static_cast<char>('0' + base);
  };
  return !s.empty() && std::all_of(s.begin(), s.end(), digit);
}

enum class IntegerParse { not_an_integer, out_of_range, ok };

// Parses `[-+]?[0-9]+`, `0x[0-9a-fA-F]+` or `0o[0-7]+`.
IntegerParse parse_integer(std::string_view s, int64_t& out) {
  int base = 10;
  bool negative = false;
  if (s.starts_with("0x") || s.starts_with("0o")) {
    base = s[1] == 'x' ? 16 : 8;
    s.remove_prefix(2);
  } else if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (!all_digits(s, base))
    return IntegerParse::not_an_integer;
  uint64_t magnitude = 0;
  auto [end, ec]
      = std::from_chars(s.data(), s.data() + s.size(), magnitude, base);
  constexpr auto max
      = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (ec != std::errc{} || magnitude > max + (negative ? 1 : 0))
    return IntegerParse::out_of_range;
  out = negative ? static_cast<int64_t>(0 - magnitude)
                 : static_cast<int64_t>(magnitude);
  return IntegerParse::ok;
}

// Matches `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `.inf` and
// `.nan` in their three spellings.
std::optional<double> parse_float(std::string_view s) {
  std::string_view body = s;
  if (!body.empty() && (body.front() == '-' || body.front() == '+'))
    body.remove_prefix(1);
  if (body == ".inf" || body == ".Inf" || body == ".INF")
    return s.front() == '-' ? -std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::infinity();
  if (s == ".nan" || s == ".NaN" || s == ".NAN")
    return std::numeric_limits<double>::quiet_NaN();
  std::size_t i = 0;
  auto digits = [&] {
    auto start = i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9')
      ++i;
    return i - start;
  };
  auto mantissa = digits();
  if (i < body.size() && body[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0)
    return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+'))
      ++i;
    if (digits() == 0)
      return std::nullopt;
  }
  if (i != body.size())
    return std::nullopt;
  return std::strtod(std::string{s}.c_str(), nullptr);
}

json scalar_to_json(const YAML::Node& node) {
  const auto& text = node.Scalar();
  if (!is_plain(node))
    return text;
  if (is_null_word(text))
    return nullptr;
  if (auto b = bool_word(text))
    return *b;
  int64_t i = 0;
  switch (parse_integer(text, i)) {
    case IntegerParse::ok: return i;
    case IntegerParse::out_of_range: return std::strtod(text.c_str(), nullptr);
    case IntegerParse::not_an_integer: break;
  }
  if (auto d = parse_float(text))
    return *d;
  return text;
}

// Deeper nesting only comes from an alias inside its own anchor, which
// yaml-cpp turns into a node that contains itself.
constexpr int kMaxDepth = 64;

// Converts `node` into `out`; returns false if it nests too deep.
bool to_json(const YAML::Node& node, json& out, int depth = 0) {
  if (depth > kMaxDepth)
    return false;
  switch (node.Type()) {
    case YAML::NodeType::Scalar: out = scalar_to_json(node); return true;
    case YAML::NodeType::Sequence:
      out = json::array();
      for (const auto& item : node)
        if (!to_json(item, out.emplace_back(), depth + 1))
          return false;
      return true;
    case YAML::NodeType::Map:
      out = json::object();
      for (const auto& entry : node) {
        auto key = entry.first.IsScalar() ? entry.first.Scalar()
                                          : YAML::Dump(entry.first);
        if (!to_json(entry.second, out[key], depth + 1))
          return false;
      }
      return true;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: out = nullptr; return true;
  }
  out = nullptr;
  return true;
}

std::string describe(const YAML::Node& node) {
  constexpr std::size_t kMaxShown = 40;
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      auto text = node.Scalar().substr(0, kMaxShown);
      if (text.size() < node.Scalar().size())
        text += "...";
      return is_plain(node) ? "'" + text + "'" : "the string \"" + text + "\"";
    }
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "nothing";
}

bool is_absent(const YAML::Node& node) {
  return node.IsNull()
         || (node.IsScalar() && is_plain(node) && is_null_word(node.Scalar()));
}

// -- the document walker ------------------------------------------------------

// Where a key sits: the step (when named) and the path of enclosing keys,
// e.g. "retry." or "steps[2].retry.".
struct Scope {
  std::optional<std::string> step;
  std::string path;

  Scope nested(std::string_view key) const {
    return Scope{step, path + std::string{key} + "."};
  }
};

class DocumentParser {
 public:
  explicit DocumentParser(std::string file) : file_(std::move(file)) {}

  void parse(const YAML::Node& root, TaskTemplate& tpl) {
    if (!root.IsMap()) {
      error(root, 0, {},
            "expected a mapping of template keys at the top level, got "
                + describe(root));
      return;
    }
    Scope scope;
    walk(root, scope, kTemplateKeys, kTemplateKeptKeys, tpl.extra, {},
         [&](std::string_view key, const YAML::Node& value, int line) {
           if (key == "name")
             set(tpl.name, string_value(value, line, scope, key));
           else if (key == "namespace_name")
             set(tpl.namespace_name, string_value(value, line, scope, key));
           else if (key == "version")
             set(tpl.version, string_value(value, line, scope, key));
           else if (key == "description")
             set(tpl.description, string_value(value, line, scope, key));
           else if (key == "metadata")
             set(tpl.metadata, mapping_value(value, line, scope, key));
           else if (key == "input_schema")
             set(tpl.input_schema, mapping_value(value, line, scope, key));
           else if (key == "steps")
             parse_steps(value, line, tpl);
           else if (key == "lifecycle")
             parse_lifecycle(value, line, scope.nested(key), tpl);
         });
  }

  std::vector<TemplateDiagnostic> take_diagnostics() {
    return std::move(diagnostics_);
  }

 private:
  template <class T>
  static void set(T& field, std::optional<T> value) {
    if (value)
      field = std::move(*value);
  }

  template <class T>
  static void set(std::optional<T>& field, std::optional<T> value) {
    if (value)
      field = std::move(value);
  }

  // Returns the 1-based line of `value`; null nodes carry the position of
  // whatever follows them, so they fall back to the line of their key.
  static int line_of(const YAML::Node& value, int key_line) {
    if (value.IsNull() || value.Mark().is_null())
      return key_line;
    return value.Mark().line + 1;
  }

  void report(DiagnosticSeverity severity, int line, const Scope& scope,
              std::string message) {
    diagnostics_.push_back(TemplateDiagnostic{severity, file_, line, scope.step,
                                              std::move(message)});
  }

  void error(const YAML::Node& value, int key_line, const Scope& scope,
             std::string message) {
    report(DiagnosticSeverity::error, line_of(value, key_line), scope,
           std::move(message));
  }

  void type_error(const YAML::Node& value, int key_line, const Scope& scope,
                  std::string_view key, std::string_view expected) {
    error(value, key_line, scope,
          "key '" + scope.path + std::string{key} + "': expected "
              + std::string{expected} + ", got " + describe(value));
  }

  // Visits every entry of `map`: modelled keys go to `on_key`, the others
  // are kept in `extra` (under `section` when it is not empty) and unknown
  // ones draw a warning. Duplicate keys are errors; the first one wins.
  template <class OnKey>
  void walk(const YAML::Node& map, const Scope& scope, Keys known, Keys kept,
            json& extra, std::string_view section, OnKey&& on_key) {
    std::unordered_set<std::string> seen;
    for (const auto& entry : map) {
      const auto& key_node = entry.first;
      const auto& value = entry.second;
      int line = key_node.Mark().line + 1;
      if (!key_node.IsScalar()) {
        report(DiagnosticSeverity::error, line, scope,
               "expected a plain key in '" + scope.path + "', got "
                   + describe(key_node));
        continue;
      }
      const auto& key = key_node.Scalar();
      if (!seen.insert(key).second) {
        report(DiagnosticSeverity::error, line, scope,
               "key '" + scope.path + key
                   + "' appears twice; the first value is used");
        continue;
      }
      if (contains(known, key)) {
        on_key(key, value, line);
        continue;
      }
      auto& target = section.empty() ? extra : extra[std::string{section}];
      target[key] = json_value(value, line, scope, key);
      if (contains(kept, key))
        continue;
      std::string message = "unknown key '" + scope.path + key + "'";
      if (auto hint = suggest(key, known, kept); !hint.empty())
        message += " (did you mean '" + std::string{hint} + "'?)";
      report(DiagnosticSeverity::warning, line, scope,
             message + "; it is kept but has no effect");
    }
  }

  // -- typed values (a null value counts as absent) --

  std::optional<std::string> string_value(const YAML::Node& value, int line,
                                          const Scope& scope,
                                          std::string_view key) {
    if (is_absent(value))
      return std::nullopt;
    if (!value.IsScalar()) {
      type_error(value, line, scope, key, "a string");
      return std::nullopt;
    }
    return value.Scalar();
  }

  std::optional<int64_t> integer_value(const YAML::Node& value, int line,
                                       const Scope& scope, std::string_view key,
                                       int64_t min, int64_t max) {
    if (is_absent(value))
      return std::nullopt;
    int64_t out = 0;
    auto parsed = value.IsScalar() && is_plain(value)
                      ? parse_integer(value.Scalar(), out)
                      : IntegerParse::not_an_integer;
    if (parsed == IntegerParse::not_an_integer) {
      type_error(value, line, scope, key, "an integer");
      return std::nullopt;
    }
    if (parsed == IntegerParse::out_of_range || out < min || out > max) {
      error(value, line, scope,
            "key '" + scope.path + std::string{key} + "': " + value.Scalar()
                + " is out of range");
      return std::nullopt;
    }
    return out;
  }

  std::optional<int32_t> int32_value(const YAML::Node& value, int line,
                                     const Scope& scope, std::string_view key) {
    auto v = integer_value(value, line, scope, key,
                           std::numeric_limits<int32_t>::min(),
                           std::numeric_limits<int32_t>::max());
    if (!v)
      return std::nullopt;
    return static_cast<int32_t>(*v);
  }

  std::optional<int64_t> int64_value(const YAML::Node& value, int line,
                                     const Scope& scope, std::string_view key) {
    return integer_value(value, line, scope, key,
                         std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max());
  }

  std::optional<bool> bool_value(const YAML::Node& value, int line,
                                 const Scope& scope, std::string_view key) {
    if (is_absent(value))
      return std::nullopt;
    if (value.IsScalar() && is_plain(value))
      if (auto b = bool_word(value.Scalar()))
        return b;
    type_error(value, line, scope, key, "true or false");
    return std::nullopt;
  }

  std::optional<json> mapping_value(const YAML::Node& value, int line,
                                    const Scope& scope, std::string_view key) {
    if (is_absent(value))
      return std::nullopt;
    if (!value.IsMap()) {
      type_error(value, line, scope, key, "a mapping");
      return std::nullopt;
    }
    return json_value(value, line, scope, key);
  }

  json json_value(const YAML::Node& value, int line, const Scope& scope,
                  std::string_view key) {
    json out;
    if (!to_json(value, out)) {
      error(value, line, scope,
            "key '" + scope.path + std::string{key} + "': nested deeper than "
                + std::to_string(kMaxDepth)
                + " levels (an alias inside its own anchor?)");
      return nullptr;
    }
    return out;
  }

  template <class Enum, class Parse>
  std::optional<Enum> enum_value(const YAML::Node& value, int line,
                                 const Scope& scope, std::string_view key,
                                 Parse parse, std::string_view allowed) {
    auto text = string_value(value, line, scope, key);
    if (!text)
      return std::nullopt;
    if (auto parsed = parse(*text))
      return parsed;
    error(value, line, scope,
          "key '" + scope.path + std::string{key} + "': unknown value '" + *text
              + "' (expected one of: " + std::string{allowed} + ")");
    return std::nullopt;
  }

  // -- sections --

  void parse_steps(const YAML::Node& value, int line, TaskTemplate& tpl) {
    if (is_absent(value))
      return;
    if (!value.IsSequence()) {
      type_error(value, line, {}, "steps", "a list of steps");
      return;
    }
    std::size_t index = 0;
    for (const auto& node : value) {
      auto position = "steps[" + std::to_string(index++) + "]";
      if (!node.IsMap()) {
        type_error(node, line, {}, position, "a step mapping");
        continue;
      }
      parse_step(node, position, tpl.steps.emplace_back());
    }
  }

  void parse_step(const YAML::Node& node, const std::string& position,
                  StepDefinition& step) {
    step.source_line = node.Mark().line + 1;
    Scope scope;
    if (auto name = node["name"]; name && name.IsScalar())
      scope.step = name.Scalar();
    else
      scope.path = position + ".";
    std::optional<std::string> dependencies_key;
    std::optional<std::string> type_key;
    walk(node, scope, kStepKeys, kStepKeptKeys, step.extra, {},
         [&](std::string_view key, const YAML::Node& value, int line) {
           if (key == "name") {
             set(step.name, string_value(value, line, scope, key));
           } else if (key == "description") {
             set(step.description, string_value(value, line, scope, key));
           } else if (key == "handler") {
             parse_handler(value, line, scope, step);
           } else if (key == "type" || key == "step_type") {
             if (!alias_unique(type_key, key, line, scope))
               return;
             set(step.type,
                 enum_value<StepType>(value, line, scope, key, parse_step_type,
                                      "standard, decision, "
                                      "deferred_convergence, batchable, "
                                      "batch_worker"));
           } else if (key == "dependencies" || key == "depends_on") {
             if (alias_unique(dependencies_key, key, line, scope))
               parse_dependencies(value, line, scope, key, step);
           } else if (key == "retry") {
             parse_retry(value, line, scope, step);
           } else if (key == "timeout_seconds") {
             set(step.timeout_seconds, int32_value(value, line, scope, key));
           }
         });
  }

  // Records the first spelling of an aliased key; a second one is an error.
  bool alias_unique(std::optional<std::string>& first, std::string_view key,
                    int line, const Scope& scope) {
    if (!first) {
      first = std::string{key};
      return true;
    }
    report(DiagnosticSeverity::error, line, scope,
           "key '" + scope.path + std::string{key} + "' repeats '" + scope.path
               + *first + "' (they are aliases); the first is used");
    return false;
  }

  void parse_dependencies(const YAML::Node& value, int line, const Scope& scope,
                          std::string_view key, StepDefinition& step) {
    if (is_absent(value))
      return;
    if (!value.IsSequence()) {
      type_error(value, line, scope, key, "a list of step names");
      return;
    }
    for (const auto& item : value) {
      if (item.IsScalar())
        step.dependencies.push_back(item.Scalar());
      else
        type_error(item, line, scope, key, "a step name");
    }
  }

  void parse_handler(const YAML::Node& value, int line, const Scope& outer,
                     StepDefinition& step) {
    if (is_absent(value))
      return;
    if (!value.IsMap()) {
      type_error(value, line, outer, "handler", "a mapping");
      return;
    }
    auto scope = outer.nested("handler");
    auto& handler = step.handler;
    walk(value, scope, kHandlerKeys, Keys{}, step.extra, "handler",
         [&](std::string_view key, const YAML::Node& v, int l) {
           if (key == "callable")
             set(handler.callable, string_value(v, l, scope, key));
           else if (key == "method")
             set(handler.method, string_value(v, l, scope, key));
           else if (key == "resolver")
             set(handler.resolver, string_value(v, l, scope, key));
           else if (key == "initialization")
             set(handler.initialization, mapping_value(v, l, scope, key));
         });
  }

  void parse_retry(const YAML::Node& value, int line, const Scope& outer,
                   StepDefinition& step) {
    if (is_absent(value))
      return;
    if (!value.IsMap()) {
      type_error(value, line, outer, "retry", "a mapping");
      return;
    }
    auto scope = outer.nested("retry");
    auto& retry = step.retry;
    walk(value, scope, kRetryKeys, Keys{}, step.extra, "retry",
         [&](std::string_view key, const YAML::Node& v, int l) {
           if (key == "retryable")
             set(retry.retryable, bool_value(v, l, scope, key));
           else if (key == "max_attempts")
             set(retry.max_attempts, int32_value(v, l, scope, key));
           else if (key == "backoff")
             set(retry.backoff, enum_value<BackoffKind>(
                                    v, l, scope, key, parse_backoff_kind,
                                    "none, linear, exponential, fibonacci"));
           else if (key == "backoff_base_ms")
             set(retry.backoff_base_ms, int64_value(v, l, scope, key));
           else if (key == "max_backoff_ms")
             set(retry.max_backoff_ms, int64_value(v, l, scope, key));
           else if (key == "jitter_percent")
             set(retry.jitter_percent, int32_value(v, l, scope, key));
         });
  }

  void parse_lifecycle(const YAML::Node& value, int line, const Scope& scope,
                       TaskTemplate& tpl) {
    if (is_absent(value))
      return;
    if (!value.IsMap()) {
      type_error(value, line, {}, "lifecycle", "a mapping");
      return;
    }
    auto& lc = tpl.lifecycle;
    walk(value, scope, kLifecycleKeys, Keys{}, tpl.extra, "lifecycle",
         [&](std::string_view key, const YAML::Node& v, int l) {
           if (key == "max_duration_minutes")
             set(lc.max_duration_minutes, int32_value(v, l, scope, key));
           else if (key == "max_waiting_for_dependencies_minutes")
             set(lc.max_waiting_for_dependencies_minutes,
                 int32_value(v, l, scope, key));
           else if (key == "max_waiting_for_retry_minutes")
             set(lc.max_waiting_for_retry_minutes,
                 int32_value(v, l, scope, key));
           else if (key == "max_steps_in_process_minutes")
             set(lc.max_steps_in_process_minutes,
                 int32_value(v, l, scope, key));
           else if (key == "staleness_action")
             set(lc.staleness_action,
                 enum_value<StalenessAction>(v, l, scope, key,
                                             parse_staleness_action,
                                             "dlq, error, none"));
           else if (key == "auto_fail_on_timeout")
             set(lc.auto_fail_on_timeout, bool_value(v, l, scope, key));
           else if (key == "auto_dlq_on_timeout")
             set(lc.auto_dlq_on_timeout, bool_value(v, l, scope, key));
         });
  }

  std::string file_;
  std::vector<TemplateDiagnostic> diagnostics_;
};

TemplateParseResult failure(std::string file, int line, std::string message) {
  TemplateParseResult result;
  result.task_template.source_file = file;
  result.diagnostics.push_back(
      TemplateDiagnostic{DiagnosticSeverity::error, std::move(file), line,
                         std::nullopt, std::move(message)});
  return result;
}

} // namespace

std::string_view to_string(DiagnosticSeverity severity) {
  return severity == DiagnosticSeverity::warning ? "warning" : "error";
}

std::string TemplateDiagnostic::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ':';
    out += std::to_string(line);
  }
  if (!out.empty())
    out += ": ";
  if (step) {
    out += "step '";
    out += *step;
    out += "': ";
  }
  out += message;
  return out;
}

bool has_errors(const std::vector<TemplateDiagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(), [](auto& d) {
    return d.severity == DiagnosticSeverity::error;
  });
}

TemplateParseResult parse_template(std::string_view yaml,
                                   std::string source_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string{yaml});
  } catch (const YAML::Exception& e) {
    return failure(std::move(source_name),
                   e.mark.is_null() ? 0 : e.mark.line + 1,
                   "malformed YAML: " + e.msg);
  }
  if (documents.empty())
    return failure(std::move(source_name), 0, "no YAML document found");
  if (documents.size() > 1)
    return failure(std::move(source_name), documents[1].Mark().line + 1,
                   "expected one YAML document, found "
                       + std::to_string(documents.size()));
  TemplateParseResult result;
  result.task_template.source_file = source_name;
  DocumentParser parser{std::move(source_name)};
  parser.parse(documents.front(), result.task_template);
  result.diagnostics = parser.take_diagnostics();
  return result;
}

TemplateParseResult parse_template_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return failure(path.string(), 0,
                   std::filesystem::exists(path, ec)
                       ? "cannot read template: not a regular file"
                       : "cannot read template: no such file");
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return failure(path.string(), 0, "cannot read template: open failed");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_template(text.str(), path.string());
}

} // namespace tasker::config
