#pragma once
// A validator for the JSON Schema subset json_schema.h converts, with the
// standard semantics (additionalProperties absent = allowed, oneOf = exactly
// one, pattern = unanchored ECMAScript search). It is the oracle of the
// structured-output tests and can check a finished response.
#include <string>

#include <nlohmann/json.hpp>

namespace kiln::engine {

// "" when `instance` is valid, else what is wrong and where
// ("/items/2: expected integer"). Throws kiln::Error for a malformed schema.
std::string json_schema_validate(const nlohmann::ordered_json& schema, const nlohmann::ordered_json& instance);

}  // namespace kiln::engine
