#include "orchestration/context_validator.hpp"

#include <doctest/doctest.h>

#include <string>

using tasker::core::ErrorCode;
using tasker::orchestration::validate_context;
using json = nlohmann::json;

namespace {

// Returns the error message of a rejected context, or "ok".
std::string problems(const json& schema, const json& context) {
  auto result = validate_context(schema, context);
  if (result.ok())
    return "ok";
  CHECK(result.error().code() == ErrorCode::invalid_argument);
  return result.error().message();
}

// Returns the error message of a malformed schema.
std::string schema_problems(const json& schema) {
  auto result = validate_context(schema, json::object());
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == ErrorCode::invalid_template);
  return result.error().message();
}

} // namespace

TEST_CASE("a null or empty schema accepts any context") {
  for (const auto& context : {json(nullptr), json::object(), json{{"a", 1}},
                              json::array({1, 2}), json("text"), json(3.5)}) {
    CAPTURE(context.dump());
    CHECK(validate_context(nullptr, context).ok());
    CHECK(validate_context(json::object(), context).ok());
  }
}

TEST_CASE("type accepts values of the named type and rejects others") {
  const json values = {
      {"object", json::object()},
      {"array", json::array()},
      {"string", "s"},
      {"integer", 7},
      {"number", 2.5},
      {"boolean", true},
      {"null", nullptr},
  };
  for (const auto& entry : values.items()) {
    const auto& type = entry.key();
    CAPTURE(type);
    CHECK(problems({{"type", type}}, entry.value()) == "ok");
  }
  CHECK(problems({{"type", "string"}}, 7)
        == "context: expected string, got "
           "integer");
  CHECK(problems({{"type", "object"}}, json::array())
        == "context: expected object, got array");
  CHECK(problems({{"type", "boolean"}}, "true")
        == "context: expected boolean, got string");
  CHECK(problems({{"type", "null"}}, 0)
        == "context: expected null, got "
           "integer");
  CHECK(problems({{"type", "array"}}, nullptr)
        == "context: expected array, got null");
}

TEST_CASE("integer accepts integral numbers only, number accepts integers") {
  CHECK(problems({{"type", "integer"}}, -3) == "ok");
  CHECK(problems({{"type", "integer"}}, 18446744073709551615ULL) == "ok");
  CHECK(problems({{"type", "integer"}}, 2.0) == "ok");
  CHECK(problems({{"type", "integer"}}, 2.5)
        == "context: expected integer, got number");
  CHECK(problems({{"type", "number"}}, 2) == "ok");
  CHECK(problems({{"type", "number"}}, 2.5) == "ok");
  CHECK(problems({{"type", "number"}}, "2")
        == "context: expected number, got string");
}

TEST_CASE("a list of types accepts any of them") {
  const json schema = {{"type", {"string", "null"}}};
  CHECK(problems(schema, "x") == "ok");
  CHECK(problems(schema, nullptr) == "ok");
  CHECK(problems(schema, 1) == "context: expected string or null, got integer");
}

TEST_CASE("required names every missing key") {
  const json schema
      = {{"type", "object"}, {"required", {"amount", "currency"}}};
  CHECK(problems(schema, {{"amount", 1}, {"currency", "EUR"}}) == "ok");
  CHECK(problems(schema, {{"currency", "EUR"}})
        == "context: missing required key 'amount'");
  CHECK(problems(schema, json::object())
        == "context: missing required key 'amount'\n"
           "context: missing required key 'currency'");
  // Like every object keyword, required does not apply to other types.
  CHECK(problems({{"required", {"amount"}}}, 5) == "ok");
}

TEST_CASE("properties are checked recursively with their paths") {
  const json schema
      = {{"type", "object"},
         {"properties",
          {{"customer",
            {{"type", "object"},
             {"required", {"id"}},
             {"properties",
              {{"id", {{"type", "integer"}}},
               {"address",
                {{"properties", {{"zip", {{"type", "string"}}}}}}}}}}}}}};
  CHECK(problems(schema, {{"customer", {{"id", 1}}}}) == "ok");
  CHECK(problems(schema, json::object()) == "ok");
  CHECK(problems(schema, {{"customer", {{"id", "c-1"}}}})
        == "context.customer.id: expected integer, got string");
  CHECK(problems(schema, {{"customer", {{"address", {{"zip", 12345}}}}}})
        == "context.customer: missing required key 'id'\n"
           "context.customer.address.zip: expected string, got integer");
  CHECK(problems(schema, {{"customer", "c-1"}})
        == "context.customer: expected object, got string");
}

TEST_CASE("keys that are not plain names are quoted in paths") {
  const json schema
      = {{"properties",
          {{"a.b", {{"type", "string"}}}, {"", {{"type", "null"}}}}}};
  CHECK(problems(schema, {{"a.b", 1}, {"", 2}})
        == "context[\"\"]: expected null, got integer\n"
           "context[\"a.b\"]: expected string, got integer");
}

TEST_CASE("items checks every element of an array") {
  const json schema = {{"type", "array"}, {"items", {{"type", "integer"}}}};
  CHECK(problems(schema, {1, 2, 3}) == "ok");
  CHECK(problems(schema, json::array()) == "ok");
  CHECK(problems(schema, {1, "two", 3, nullptr})
        == "context[1]: expected integer, got string\n"
           "context[3]: expected integer, got null");
  const json nested = {{"properties",
                        {{"lines",
                          {{"items",
                            {{"required", {"sku"}},
                             {"properties", {{"qty", {{"minimum", 1}}}}}}}}}}}};
  CHECK(problems(nested, {{"lines", {{{"sku", "a"}, {"qty", 0}}}}})
        == "context.lines[0].qty: 0 is less than minimum 1");
  CHECK(problems(nested, {{"lines", {{{"qty", 2}}}}})
        == "context.lines[0]: missing required key 'sku'");
}

TEST_CASE("enum accepts only the listed values") {
  const json schema = {{"enum", {"open", "closed", 3, nullptr}}};
  CHECK(problems(schema, "open") == "ok");
  CHECK(problems(schema, 3) == "ok");
  CHECK(problems(schema, 3.0) == "ok");
  CHECK(problems(schema, nullptr) == "ok");
  CHECK(problems(schema, "pending")
        == "context: \"pending\" is not one of [\"open\",\"closed\",3,null]");
  CHECK(problems({{"enum", {{{"a", 1}}}}}, {{"a", 1}}) == "ok");
  CHECK(problems({{"enum", {{{"a", 1}}}}}, {{"a", 2}})
        == "context: {\"a\":2} is not one of [{\"a\":1}]");
}

TEST_CASE("additionalProperties false rejects keys not in properties") {
  const json schema = {{"properties", {{"a", json::object()}}},
                       {"additionalProperties", false}};
  CHECK(problems(schema, {{"a", 1}}) == "ok");
  CHECK(problems(schema, {{"a", 1}, {"b", 2}, {"c", 3}})
        == "context: unexpected key 'b'\ncontext: unexpected key 'c'");
  CHECK(problems({{"additionalProperties", false}}, {{"x", 1}})
        == "context: unexpected key 'x'");
  CHECK(problems({{"additionalProperties", true}}, {{"x", 1}}) == "ok");
  CHECK(problems({{"properties", {{"a", json::object()}}}}, {{"x", 1}})
        == "ok");
}

TEST_CASE("an additionalProperties schema checks the other keys") {
  const json schema = {{"properties", {{"id", {{"type", "integer"}}}}},
                       {"additionalProperties", {{"type", "string"}}}};
  CHECK(problems(schema, {{"id", 1}, {"note", "x"}}) == "ok");
  CHECK(problems(schema, {{"id", 1}, {"count", 2}})
        == "context.count: expected string, got integer");
}

TEST_CASE("minimum and maximum are inclusive bounds on numbers") {
  const json schema = {{"minimum", 1}, {"maximum", 10.5}};
  CHECK(problems(schema, 1) == "ok");
  CHECK(problems(schema, 10.5) == "ok");
  CHECK(problems(schema, 0.5) == "context: 0.5 is less than minimum 1");
  CHECK(problems(schema, 11) == "context: 11 is greater than maximum 10.5");
  CHECK(problems(schema, "100") == "ok");
  CHECK(problems({{"minimum", -5}}, 18446744073709551615ULL) == "ok");
}

TEST_CASE("minLength and maxLength count code points of strings") {
  const json schema = {{"minLength", 2}, {"maxLength", 3}};
  CHECK(problems(schema, "ab") == "ok");
  CHECK(problems(schema, "abc") == "ok");
  CHECK(problems(schema, "\xC3\xA9t\xC3\xA9") == "ok"); // "été"
  CHECK(problems(schema, "a")
        == "context: 1 characters, fewer than minLength 2");
  CHECK(problems(schema, "abcd")
        == "context: 4 characters, more than maxLength 3");
  CHECK(problems(schema, 12345) == "ok");
}

TEST_CASE("minItems and maxItems bound the length of arrays") {
  const json schema = {{"minItems", 1}, {"maxItems", 2}};
  CHECK(problems(schema, {1}) == "ok");
  CHECK(problems(schema, {1, 2}) == "ok");
  CHECK(problems(schema, json::array())
        == "context: 0 items, fewer than minItems 1");
  CHECK(problems(schema, {1, 2, 3})
        == "context: 3 items, more than maxItems 2");
  CHECK(problems(schema, "xyz") == "ok");
}

TEST_CASE("unknown keywords are ignored") {
  const json schema = {{"$schema", "https://json-schema.org/draft/2020-12"},
                       {"title", "Order"},
                       {"pattern", "^[0-9]+$"},
                       {"oneOf", {{{"type", "string"}}}}};
  CHECK(problems(schema, 42) == "ok");
}

TEST_CASE("every problem of a context is reported, one per line") {
  const json schema = {
      {"type", "object"},
      {"required", {"amount", "order"}},
      {"additionalProperties", false},
      {"properties",
       {{"amount", {{"type", "number"}, {"minimum", 0}}},
        {"currency", {{"enum", {"EUR", "USD"}}}},
        {"order",
         {{"properties",
           {{"tags", {{"maxItems", 1}, {"items", {{"minLength", 1}}}}}}}}}}}};
  const json context = {
      {"currency", "GBP"}, {"extra", true}, {"order", {{"tags", {"", "b"}}}}};
  CHECK(problems(schema, context)
        == "context: missing required key 'amount'\n"
           "context.currency: \"GBP\" is not one of [\"EUR\",\"USD\"]\n"
           "context: unexpected key 'extra'\n"
           "context.order.tags: 2 items, more than maxItems 1\n"
           "context.order.tags[0]: 0 characters, fewer than minLength 1");
}

TEST_CASE("a malformed schema is an error naming the schema path") {
  CHECK(schema_problems("object")
        == "input_schema: expected a schema object, got string");
  CHECK(schema_problems({{"type", 5}})
        == "input_schema.type: expected a type name or a non-empty array of "
           "them, got integer");
  CHECK(schema_problems({{"type", json::array()}})
        == "input_schema.type: expected a type name or a non-empty array of "
           "them, got array");
  CHECK(schema_problems({{"type", "int"}})
        == "input_schema.type: unknown type 'int' (expected one of: object, "
           "array, string, integer, number, boolean, null)");
  CHECK(schema_problems({{"type", {"string", 1}}})
        == "input_schema.type[1]: expected a type name, got integer");
  CHECK(schema_problems({{"required", "amount"}})
        == "input_schema.required: expected an array of strings, got string");
  CHECK(schema_problems({{"required", {"a", 2}}})
        == "input_schema.required[1]: expected a string, got integer");
  CHECK(schema_problems({{"properties", json::array()}})
        == "input_schema.properties: expected an object of schemas, got "
           "array");
  CHECK(schema_problems({{"items", json::array({json::object()})}})
        == "input_schema.items: expected a schema object, got array");
  CHECK(schema_problems({{"enum", "a"}})
        == "input_schema.enum: expected an array, got string");
  CHECK(schema_problems({{"additionalProperties", "no"}})
        == "input_schema.additionalProperties: expected true, false or a "
           "schema object, got string");
  CHECK(schema_problems({{"minimum", "0"}})
        == "input_schema.minimum: expected a number, got string");
  CHECK(schema_problems({{"maxLength", -1}})
        == "input_schema.maxLength: expected a non-negative integer, got "
           "integer");
  CHECK(schema_problems({{"minItems", 1.5}})
        == "input_schema.minItems: expected a non-negative integer, got "
           "number");
}

TEST_CASE("every problem of a schema is reported, however deep") {
  const json schema = {{"type", "object"},
                       {"required", 1},
                       {"properties",
                        {{"customer",
                          {{"properties", {{"id", {{"type", "uuid"}}}}},
                           {"items", {{"maxItems", "2"}}}}}}}};
  // The context is irrelevant: a broken schema is reported either way.
  auto result = validate_context(schema, {{"customer", {{"id", 1}}}});
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == ErrorCode::invalid_template);
  CHECK(result.error().message()
        == "input_schema.required: expected an array of strings, got integer\n"
           "input_schema.properties.customer.properties.id.type: unknown type "
           "'uuid' (expected one of: object, array, string, integer, number, "
           "boolean, null)\n"
           "input_schema.properties.customer.items.maxItems: expected a "
           "non-negative integer, got string");
}
