#pragma once
// Model parameters as Ollama names and types them (api.Options): the values a
// Modelfile's PARAMETER lines set and the params layer stores as a JSON object
// (keys sorted, as Go writes a map; "stop" is an array of strings).
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::store {

enum class ParamType { Int, Float, Bool, StringList };

struct ParamSpec {
  std::string_view name;
  ParamType type;
};

// The spec of a parameter kiln accepts, or nullptr.
const ParamSpec* find_param(std::string_view name);
// Parameters Ollama still accepts in Modelfiles but ignores with a warning.
bool is_deprecated_param(std::string_view name);
// Every accepted parameter, for error messages and help.
const std::vector<ParamSpec>& all_params();

// Parses the text of one PARAMETER value with Go's rules (strconv.Atoi,
// ParseFloat(32), ParseBool). Throws kiln::Error "invalid <type> value ...".
nlohmann::json parse_param_value(const ParamSpec& spec, std::string_view text);

// Sets `name` in a params object: scalars replace, "stop" appends.
void set_param(nlohmann::json& params, const ParamSpec& spec, nlohmann::json value);
// Validates a params object read from a params layer (names and JSON types).
void check_params(const nlohmann::json& params);

// One "name value" pair per value (stop values repeat), sorted by name, the
// value rendered as Ollama's show does (%#v: strings quoted, numbers plain).
std::vector<std::pair<std::string, std::string>> param_lines(const nlohmann::json& params);
// The value as a Modelfile PARAMETER line writes it (strings unquoted).
std::string param_text(const nlohmann::json& value);

}  // namespace kiln::store
