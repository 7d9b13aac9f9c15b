#pragma once
// JSON output constraints as grammars: Ollama's `format` ("json" or a
// schema) and OpenAI's `response_format` (json_object, json_schema).
//
// The subset of JSON Schema that real clients send (Pydantic's
// model_json_schema(), hand-written Ollama schemas):
//   type (one or a list; "null" in the list for nullable), nullable: true,
//   properties in the order given + required + additionalProperties
//   (false, true or a schema), enum, const, anyOf, oneOf (treated as anyOf),
//   allOf (one schema, or objects merged), $ref into $defs / definitions /
//   any local JSON pointer (recursive schemas work), items, prefixItems,
//   minItems/maxItems, minLength/maxLength, pattern (a regular-expression
//   subset, json_schema_pattern.cpp), format date / time / date-time / uuid,
//   integer minimum/maximum/exclusiveMinimum/exclusiveMaximum.
// Deliberate choices:
//   - additionalProperties absent means false (as llama.cpp does): a model
//     told the fields should not invent others; set it to true to allow them
//     (they then follow the declared properties).
//   - number bounds: minimum >= 0 removes the minus sign; other bounds on
//     non-integers are not enforced (documented in docs/structured-outputs.md).
//   - keywords that constrain what we cannot express (not, if/then/else,
//     patternProperties, uniqueItems, multipleOf, ...) are errors naming the
//     keyword and where it is; annotations (title, description, default,
//     examples, ...) are ignored.
// Whitespace: between tokens the grammar allows "", one space, or one
// newline followed by up to 20 spaces or tabs, so both compact and
// pretty-printed output match but generation cannot spin on whitespace.
// Numbers have at most 16 integer digits, 16 fraction digits and 3 exponent
// digits for the same reason.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/grammar.h"

namespace kiln::engine {

// Ollama's format "json" and OpenAI's json_object: any JSON object.
std::string json_object_gbnf();
// Any JSON value.
std::string json_value_gbnf();
// GBNF text for a schema. Throws kiln::Error naming the unsupported or
// malformed part ("JSON schema at /properties/a: ...").
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);
// Parses and builds the grammar in one go.
std::shared_ptr<const Grammar> json_schema_grammar(const nlohmann::ordered_json& schema);

// Regular expression (JSON Schema `pattern`, the subset documented in
// json_schema_pattern.cpp) to a GBNF expression matching the string
// *contents* (no quotes), with JSON escaping of quotes and backslashes.
// Throws kiln::Error for constructs outside the subset.
std::string json_pattern_to_gbnf(const std::string& pattern);

// Integer range [lo, hi] (either side may be open) as a GBNF expression over
// decimal digits (json_schema_number.cpp).
std::string json_integer_range_gbnf(const long long* lo, const long long* hi);

}  // namespace kiln::engine
