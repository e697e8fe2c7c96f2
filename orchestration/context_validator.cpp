#include "orchestration/context_validator.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tasker::orchestration {

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 7> kTypeNames{
    "object", "array", "string", "integer", "number", "boolean", "null"};

bool is_integral(const json& value) {
  if (value.is_number_integer())
    return true;
  if (!value.is_number_float())
    return false;
  const double d = value.get<double>();
  return std::isfinite(d) && std::trunc(d) == d;
}

// The most specific type name of `value`.
std::string_view type_of(const json& value) {
  switch (value.type()) {
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float:
      return is_integral(value) ? "integer" : "number";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "discarded";
    case json::value_t::null: break;
  }
  return "null";
}

bool has_type(const json& value, std::string_view name) {
  if (name == "number")
    return value.is_number();
  if (name == "integer")
    return is_integral(value);
  return type_of(value) == name;
}

bool is_count(const json& value) {
  return value.is_number_unsigned()
         || (value.is_number_integer() && value.get<int64_t>() >= 0);
}

std::size_t code_points(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80)
      ++n;
  return n;
}

// Compact JSON; invalid UTF-8 must not make reporting throw.
std::string show(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Appends `key` to a path: `.key` for plain names, `["a.b"]` otherwise.
std::string child_path(const std::string& path, const std::string& key) {
  const bool plain
      = !key.empty()
        && std::all_of(key.begin(), key.end(), [](unsigned char c) {
             return std::isalnum(c) || c == '_' || c == '-';
           });
  if (plain)
    return path + "." + key;
  return path + "[" + show(key) + "]";
}

std::string index_path(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// -- the schema itself --------------------------------------------------------

class SchemaChecker {
 public:
  std::vector<std::string> run(const json& schema) {
    check(schema, "input_schema");
    return std::move(problems_);
  }

 private:
  void problem(const std::string& path, std::string_view expected,
               const json& got) {
    problems_.push_back(path + ": expected " + std::string{expected} + ", got "
                        + std::string{type_of(got)});
  }

  void check(const json& schema, const std::string& path) {
    if (schema.is_null())
      return;
    if (!schema.is_object()) {
      problem(path, "a schema object", schema);
      return;
    }
    if (auto it = schema.find("type"); it != schema.end())
      check_type(*it, child_path(path, "type"));
    if (auto it = schema.find("required"); it != schema.end()) {
      const auto required_path = child_path(path, "required");
      if (!it->is_array())
        problem(required_path, "an array of strings", *it);
      else
        for (std::size_t i = 0; i < it->size(); ++i)
          if (!(*it)[i].is_string())
            problem(index_path(required_path, i), "a string", (*it)[i]);
    }
    if (auto it = schema.find("properties"); it != schema.end()) {
      const auto properties_path = child_path(path, "properties");
      if (!it->is_object())
        problem(properties_path, "an object of schemas", *it);
      else
        for (const auto& [key, subschema] : it->items())
          check(subschema, child_path(properties_path, key));
    }
    if (auto it = schema.find("additionalProperties"); it != schema.end()) {
      const auto additional_path = child_path(path, "additionalProperties");
      if (it->is_object() || it->is_null())
        check(*it, additional_path);
      else if (!it->is_boolean())
        problem(additional_path, "true, false or a schema object", *it);
    }
    if (auto it = schema.find("items"); it != schema.end())
      check(*it, child_path(path, "items"));
    if (auto it = schema.find("enum"); it != schema.end() && !it->is_array())
      problem(child_path(path, "enum"), "an array", *it);
    for (auto key : {"minimum", "maximum"})
      if (auto it = schema.find(key); it != schema.end() && !it->is_number())
        problem(child_path(path, key), "a number", *it);
    for (auto key : {"minLength", "maxLength", "minItems", "maxItems"})
      if (auto it = schema.find(key); it != schema.end() && !is_count(*it))
        problem(child_path(path, key), "a non-negative integer", *it);
  }

  void check_type(const json& type, const std::string& path) {
    if (type.is_string()) {
      check_type_name(type.get<std::string>(), path);
      return;
    }
    if (!type.is_array() || type.empty()) {
      problem(path, "a type name or a non-empty array of them", type);
      return;
    }
    for (std::size_t i = 0; i < type.size(); ++i) {
      if (type[i].is_string())
        check_type_name(type[i].get<std::string>(), index_path(path, i));
      else
        problem(index_path(path, i), "a type name", type[i]);
    }
  }

  void check_type_name(const std::string& name, const std::string& path) {
    if (std::find(kTypeNames.begin(), kTypeNames.end(), name)
        == kTypeNames.end())
      problems_.push_back(path + ": unknown type '" + name
                          + "' (expected one of: object, array, string, "
                            "integer, number, boolean, null)");
  }

  std::vector<std::string> problems_;
};

// -- the context against a well-formed schema ---------------------------------

class ContextChecker {
 public:
  std::vector<std::string> run(const json& schema, const json& context) {
    check(schema, context, "context");
    return std::move(problems_);
  }

 private:
  void problem(const std::string& path, std::string message) {
    problems_.push_back(path + ": " + std::move(message));
  }

  void check(const json& schema, const json& value, const std::string& path) {
    if (schema.is_null())
      return;
    if (auto it = schema.find("type"); it != schema.end())
      check_type(*it, value, path);
    if (auto it = schema.find("enum"); it != schema.end())
      if (std::find(it->begin(), it->end(), value) == it->end())
        problem(path, show(value) + " is not one of " + show(*it));
    if (value.is_object())
      check_object(schema, value, path);
    else if (value.is_array())
      check_array(schema, value, path);
    else if (value.is_string())
      check_string(schema, value.get_ref<const std::string&>(), path);
    else if (value.is_number())
      check_number(schema, value, path);
  }

  void check_type(const json& type, const json& value,
                  const std::string& path) {
    const auto names = type.is_array() ? type : json::array({type});
    for (const auto& name : names)
      if (has_type(value, name.get_ref<const std::string&>()))
        return;
    std::string expected;
    for (const auto& name : names) {
      if (!expected.empty())
        expected += " or ";
      expected += name.get<std::string>();
    }
    problem(path,
            "expected " + expected + ", got " + std::string{type_of(value)});
  }

  void check_object(const json& schema, const json& value,
                    const std::string& path) {
    if (auto it = schema.find("required"); it != schema.end())
      for (const auto& key : *it)
        if (!value.contains(key.get_ref<const std::string&>()))
          problem(path,
                  "missing required key '" + key.get<std::string>() + "'");
    static const json kNoProperties = json::object();
    auto properties_it = schema.find("properties");
    const auto& properties
        = properties_it == schema.end() ? kNoProperties : *properties_it;
    auto additional = schema.find("additionalProperties");
    for (const auto& [key, item] : value.items()) {
      const auto item_path = child_path(path, key);
      if (auto p = properties.find(key); p != properties.end())
        check(*p, item, item_path);
      else if (additional == schema.end() || *additional == true)
        continue;
      else if (*additional == false)
        problem(path, "unexpected key '" + key + "'");
      else
        check(*additional, item, item_path);
    }
  }

  void check_array(const json& schema, const json& value,
                   const std::string& path) {
    const auto size = value.size();
    if (auto it = schema.find("minItems"); it != schema.end())
      if (size < it->get<std::size_t>())
        problem(path, std::to_string(size) + " items, fewer than minItems "
                          + show(*it));
    if (auto it = schema.find("maxItems"); it != schema.end())
      if (size > it->get<std::size_t>())
        problem(path, std::to_string(size) + " items, more than maxItems "
                          + show(*it));
    if (auto it = schema.find("items"); it != schema.end())
      for (std::size_t i = 0; i < size; ++i)
        check(*it, value[i], index_path(path, i));
  }

  void check_string(const json& schema, const std::string& text,
                    const std::string& path) {
    const auto length = code_points(text);
    if (auto it = schema.find("minLength"); it != schema.end())
      if (length < it->get<std::size_t>())
        problem(path, std::to_string(length)
                          + " characters, fewer than minLength " + show(*it));
    if (auto it = schema.find("maxLength"); it != schema.end())
      if (length > it->get<std::size_t>())
        problem(path, std::to_string(length)
                          + " characters, more than maxLength " + show(*it));
  }

  void check_number(const json& schema, const json& value,
                    const std::string& path) {
    if (auto it = schema.find("minimum"); it != schema.end() && value < *it)
      problem(path, show(value) + " is less than minimum " + show(*it));
    if (auto it = schema.find("maximum"); it != schema.end() && value > *it)
      problem(path, show(value) + " is greater than maximum " + show(*it));
  }

  std::vector<std::string> problems_;
};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty())
      out += '\n';
    out += line;
  }
  return out;
}

} // namespace

core::Result<void> validate_context(const nlohmann::json& input_schema,
                                    const nlohmann::json& context) {
  if (auto problems = SchemaChecker{}.run(input_schema); !problems.empty())
    return core::Error{core::ErrorCode::invalid_template, join_lines(problems)};
  if (auto problems = ContextChecker{}.run(input_schema, context);
      !problems.empty())
    return core::Error{core::ErrorCode::invalid_argument, join_lines(problems)};
  return {};
}

} // namespace tasker::orchestration
