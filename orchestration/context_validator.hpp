#pragma once

#include "core/result.hpp"

#include <nlohmann/json.hpp>

namespace tasker::orchestration {

/// Checks a task's `context` against its template's `input_schema`, a subset
/// of JSON Schema:
/// - `type`: a name or a list of names among object, array, string,
///   integer, number, boolean, null; integer accepts integral numbers only
///   (2.0 included), number accepts integers too;
/// - `enum`: the value equals one of the listed values;
/// - objects: `required`, `properties` (checked recursively when present),
///   `additionalProperties` (false rejects keys not in `properties`; a
///   schema checks them);
/// - arrays: `items` (one schema for every element), `minItems`, `maxItems`;
/// - strings: `minLength`, `maxLength` (in Unicode code points);
/// - numbers: `minimum`, `maximum` (inclusive).
/// A keyword only constrains values of its own type, as in JSON Schema. A
/// null or empty schema accepts anything, and so does a null subschema;
/// other keywords ($ref, oneOf, pattern, ...) are ignored. Every problem is
/// reported, one per line of an `invalid_argument` error, each naming its
/// path, e.g. `context.customer.id: expected integer, got string` or
/// `context: missing required key 'amount'`. A malformed schema is an
/// `invalid_template` error listing the schema paths at fault, e.g.
/// `input_schema.required: expected an array of strings, got string`.
core::Result<void> validate_context(const nlohmann::json& input_schema,
                                    const nlohmann::json& context);

} // namespace tasker::orchestration
