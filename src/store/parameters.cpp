#include "store/parameters.h"

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace kiln::store {
namespace {

const std::vector<ParamSpec> kParams = {
    // Runner options (fixed when a model is loaded).
    {"num_ctx", ParamType::Int},
    {"num_batch", ParamType::Int},
    {"num_gpu", ParamType::Int},
    {"main_gpu", ParamType::Int},
    {"use_mmap", ParamType::Bool},
    {"num_thread", ParamType::Int},
    // Sampling and prediction options.
    {"num_keep", ParamType::Int},
    {"seed", ParamType::Int},
    {"num_predict", ParamType::Int},
    {"top_k", ParamType::Int},
    {"top_p", ParamType::Float},
    {"min_p", ParamType::Float},
    {"typical_p", ParamType::Float},
    {"repeat_last_n", ParamType::Int},
    {"temperature", ParamType::Float},
    {"repeat_penalty", ParamType::Float},
    {"presence_penalty", ParamType::Float},
    {"frequency_penalty", ParamType::Float},
    {"stop", ParamType::StringList},
};

constexpr std::string_view kDeprecated[] = {
    "penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only",
    "use_mlock", "mirostat", "mirostat_tau", "mirostat_eta",
};

std::string shown(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 60)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return out + (s.size() > 60 ? "...\"" : "\"");
}

const char* type_word(ParamType t) {
  switch (t) {
    case ParamType::Int: return "integer";
    case ParamType::Float: return "float";
    case ParamType::Bool: return "bool";
    case ParamType::StringList: return "string";
  }
  return "value";
}

std::string bad_value(const ParamSpec& spec, std::string_view text) {
  return "invalid " + std::string(type_word(spec.type)) + " value " + shown(text) + " for parameter " +
         std::string(spec.name);
}

}  // namespace

const std::vector<ParamSpec>& all_params() { return kParams; }

const ParamSpec* find_param(std::string_view name) {
  for (const auto& p : kParams)
    if (p.name == name) return &p;
  return nullptr;
}

bool is_deprecated_param(std::string_view name) {
  return std::find(std::begin(kDeprecated), std::end(kDeprecated), name) != std::end(kDeprecated);
}

nlohmann::json parse_param_value(const ParamSpec& spec, std::string_view text) {
  switch (spec.type) {
    case ParamType::Int: {
      // strconv.Atoi: optional sign, decimal digits, fits in 64 bits.
      std::string_view digits = text;
      if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size())
        throw Error(bad_value(spec, text));
      return v;
    }
    case ParamType::Float: {
      const std::string s(text);
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || std::fabs(v) > FLT_MAX)
        throw Error(bad_value(spec, text));
      // Go marshals an integral float32 without a fraction ("1", not "1.0").
      if (v == std::trunc(v) && std::fabs(v) < 1e15) return static_cast<int64_t>(v);
      return v;
    }
    case ParamType::Bool: {
      for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
        if (text == t) return true;
      for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
        if (text == f) return false;
      throw Error(bad_value(spec, text));
    }
    case ParamType::StringList:
      return std::string(text);
  }
  throw Error(bad_value(spec, text));
}

void set_param(nlohmann::json& params, const ParamSpec& spec, nlohmann::json value) {
  if (!params.is_object()) params = nlohmann::json::object();
  const std::string key(spec.name);
  if (spec.type == ParamType::StringList) {
    auto& list = params[key];
    if (!list.is_array()) list = nlohmann::json::array();
    if (value.is_array())
      for (auto& v : value) list.push_back(v);
    else
      list.push_back(std::move(value));
  } else {
    params[key] = std::move(value);
  }
}

void check_params(const nlohmann::json& params) {
  if (!params.is_object()) throw Error("params layer is not a JSON object");
  for (const auto& [key, value] : params.items()) {
    const ParamSpec* spec = find_param(key);
    if (!spec) {
      if (is_deprecated_param(key)) continue;
      throw Error("params layer has unknown parameter '" + key + "'");
    }
    bool ok = false;
    switch (spec->type) {
      case ParamType::Int: ok = value.is_number_integer() || (value.is_number() && value.get<double>() == std::trunc(value.get<double>())); break;
      case ParamType::Float: ok = value.is_number(); break;
      case ParamType::Bool: ok = value.is_boolean(); break;
      case ParamType::StringList:
        ok = value.is_array() && std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_string(); });
        break;
    }
    if (!ok) throw Error("params layer: parameter '" + key + "' must be of type " + type_word(spec->type));
  }
}

std::string param_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::vector<std::pair<std::string, std::string>> param_lines(const nlohmann::json& params) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!params.is_object()) return out;
  for (const auto& [key, value] : params.items()) {  // nlohmann::json keeps keys sorted
    if (value.is_array())
      for (const auto& v : value) out.emplace_back(key, v.dump());
    else
      out.emplace_back(key, value.dump());
  }
  return out;
}

}  // namespace kiln::store
