#include "engine/options.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kiln::engine {
namespace {

using json = nlohmann::json;

// One accepted option: where it lives in Options and which values are sane.
// Integers are range-checked as int64 before they are narrowed, so 2^40 is
// "must be between ..." and never a silent wrap-around.
struct Spec {
  std::string_view name;
  std::variant<int Options::*, int64_t Options::*, float Options::*, std::optional<bool> Options::*,
               std::vector<std::string> Options::*>
      field;
  double min = 0;
  double max = 0;
  bool min_exclusive = false;  // repeat_penalty: 0 would divide by zero
};

constexpr double kInt32Max = std::numeric_limits<int32_t>::max();
constexpr double kInt64Min = -9223372036854775808.0;
constexpr double kInt64Max = 9223372036854775807.0;

const Spec kSpecs[] = {
    {"num_ctx", &Options::num_ctx, 1, kMaxNumCtx},
    {"num_batch", &Options::num_batch, 1, kMaxNumBatch},
    {"num_gpu", &Options::num_gpu, -1, 1 << 20},  // 999 is the usual "every layer"
    {"main_gpu", &Options::main_gpu, 0, 1024},
    {"use_mmap", &Options::use_mmap},
    {"num_thread", &Options::num_thread, 0, kMaxNumThread},
    {"num_keep", &Options::num_keep, -1, kMaxNumCtx},
    {"seed", &Options::seed, kInt64Min, kInt64Max},
    {"num_predict", &Options::num_predict, -2, kInt32Max},
    {"top_k", &Options::top_k, 0, kInt32Max},
    {"top_p", &Options::top_p, 0, 1},
    {"min_p", &Options::min_p, 0, 1},
    {"typical_p", &Options::typical_p, 0, 1},
    {"repeat_last_n", &Options::repeat_last_n, -1, kMaxNumCtx},
    {"temperature", &Options::temperature, 0, kMaxTemperature},
    {"repeat_penalty", &Options::repeat_penalty, 0, kMaxPenaltyMagnitude, true},
    {"presence_penalty", &Options::presence_penalty, -kMaxPenaltyMagnitude, kMaxPenaltyMagnitude},
    {"frequency_penalty", &Options::frequency_penalty, -kMaxPenaltyMagnitude, kMaxPenaltyMagnitude},
    {"stop", &Options::stop},
};

// Accepted by older Ollama versions; today's Ollama ignores them with a warning.
constexpr std::string_view kDeprecated[] = {
    "penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
    "mirostat", "mirostat_tau", "mirostat_eta", "tfs_z", "numa",
};

const Spec* find_spec(std::string_view name) {
  for (const Spec& s : kSpecs)
    if (s.name == name) return &s;
  return nullptr;
}

bool is_deprecated(std::string_view name) {
  return std::find(std::begin(kDeprecated), std::end(kDeprecated), name) != std::end(kDeprecated);
}

// Shortest decimal text of a value (1.5, 1e+09, 0.9), for messages.
std::string number_text(double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string range_text(const Spec& s) {
  if (s.min_exclusive) return "greater than " + number_text(s.min) + " and at most " + number_text(s.max);
  return "between " + number_text(s.min) + " and " + number_text(s.max);
}

[[noreturn]] void out_of_range(const Spec& s, double v) {
  throw Error("option \"" + std::string(s.name) + "\" must be " + range_text(s) + " (got " + number_text(v) + ")");
}

void check_range(const Spec& s, double v) {
  if (!std::isfinite(v)) throw Error("option \"" + std::string(s.name) + "\" must be a finite number");
  const bool low = s.min_exclusive ? v <= s.min : v < s.min;
  if (low || v > s.max) out_of_range(s, v);
}

// Stop strings: empty ones are dropped (they would stop before the first
// token); the count and length are bounded because every generated piece is
// matched against all of them.
void set_stop(std::vector<std::string>& stop, std::vector<std::string> values) {
  std::erase_if(values, [](const std::string& v) { return v.empty(); });
  stop = std::move(values);
}

void check_stop(const std::vector<std::string>& stop) {
  if (stop.size() > kMaxStopStrings)
    throw Error("option \"stop\" has " + std::to_string(stop.size()) + " strings; at most " +
                std::to_string(kMaxStopStrings) + " are accepted");
  for (const auto& s : stop)
    if (s.size() > kMaxStopBytes)
      throw Error("option \"stop\": a stop string of " + std::to_string(s.size()) + " bytes is longer than " +
                  std::to_string(kMaxStopBytes));
}

// Go's FromMap: any JSON number is accepted for an integer option and its
// fraction is dropped.
int64_t json_to_int(const Spec& s, const json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      out_of_range(s, static_cast<double>(v.get<uint64_t>()));
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    const double d = std::trunc(v.get<double>());
    if (!(d >= kInt64Min && d < kInt64Max)) out_of_range(s, d);
    return static_cast<int64_t>(d);
  }
  throw Error("option \"" + std::string(s.name) + "\" must be of type integer");
}

void set_from_json(Options& opts, const Spec& s, const json& v) {
  std::visit(
      [&](auto member) {
        using T = std::remove_cvref_t<decltype(opts.*member)>;
        if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
          const int64_t i = json_to_int(s, v);
          check_range(s, static_cast<double>(i));
          opts.*member = static_cast<T>(i);
        } else if constexpr (std::is_same_v<T, float>) {
          if (!v.is_number()) throw Error("option \"" + std::string(s.name) + "\" must be of type float32");
          const double d = v.get<double>();
          check_range(s, d);
          opts.*member = static_cast<float>(d);
        } else if constexpr (std::is_same_v<T, std::optional<bool>>) {
          if (!v.is_boolean()) throw Error("option \"" + std::string(s.name) + "\" must be of type boolean");
          opts.*member = v.get<bool>();
        } else {
          // Ollama wants an array; a lone string is taken as a one-element
          // list, which is what every client that sends one means.
          std::vector<std::string> values;
          if (v.is_string()) {
            values.push_back(v.get<std::string>());
          } else if (v.is_array()) {
            for (const auto& item : v) {
              if (!item.is_string())
                throw Error("option \"" + std::string(s.name) + "\" must be of an array of strings");
              values.push_back(item.get<std::string>());
            }
          } else {
            throw Error("option \"" + std::string(s.name) + "\" must be of type array");
          }
          check_stop(values);
          set_stop(opts.*member, std::move(values));
        }
      },
      s.field);
}

[[noreturn]] void bad_text(const Spec& s, std::string_view type, std::string_view text) {
  throw Error("invalid " + std::string(type) + " value \"" + std::string(text.substr(0, 60)) + "\" for parameter " +
              std::string(s.name));
}

// strconv.Atoi: optional sign, decimal digits, fits in 64 bits.
int64_t parse_int_text(const Spec& s, std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) bad_text(s, "integer", text);
  return v;
}

// strconv.ParseFloat(s, 32): a decimal or hexadecimal float; no spaces.
double parse_float_text(const Spec& s, std::string_view text) {
  const std::string str(text);
  if (str.empty() || std::isspace(static_cast<unsigned char>(str[0]))) bad_text(s, "float", text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(str.c_str(), &end);
  if (end != str.c_str() + str.size()) bad_text(s, "float", text);
  return v;
}

bool parse_bool_text(const Spec& s, std::string_view text) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (text == t) return true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (text == f) return false;
  bad_text(s, "bool", text);
}

// float32 values as JSON numbers with their shortest decimal text (0.9, not
// 0.8999999761581421), as Go marshals a float32.
double float_for_json(float f) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, f);
  return std::strtod(std::string(buf, res.ptr).c_str(), nullptr);
}

}  // namespace

bool is_option_name(std::string_view name) { return find_spec(name) != nullptr; }

void apply_json(Options& opts, const json& object, std::vector<std::string>* ignored) {
  if (object.is_null()) return;
  if (!object.is_object()) throw Error("options must be a JSON object");
  Options next = opts;  // all or nothing: a bad key leaves opts untouched
  for (const auto& [key, value] : object.items()) {
    const Spec* spec = find_spec(key);
    if (!spec) {
      if (ignored) ignored->push_back(key);
      continue;
    }
    if (value.is_null()) continue;
    set_from_json(next, *spec, value);
  }
  validate(next);
  opts = std::move(next);
}

void apply_parameter(Options& opts, std::string_view name, std::string_view value) {
  const Spec* spec = find_spec(name);
  if (!spec) {
    if (is_deprecated(name)) return;
    throw Error("unknown parameter '" + std::string(name) + "'");
  }
  Options next = opts;
  std::visit(
      [&](auto member) {
        using T = std::remove_cvref_t<decltype(next.*member)>;
        if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
          const int64_t i = parse_int_text(*spec, value);
          check_range(*spec, static_cast<double>(i));
          next.*member = static_cast<T>(i);
        } else if constexpr (std::is_same_v<T, float>) {
          const double d = parse_float_text(*spec, value);
          check_range(*spec, d);
          next.*member = static_cast<float>(d);
        } else if constexpr (std::is_same_v<T, std::optional<bool>>) {
          next.*member = parse_bool_text(*spec, value);
        } else {
          auto values = next.*member;
          values.emplace_back(value);
          check_stop(values);
          set_stop(next.*member, std::move(values));
        }
      },
      spec->field);
  validate(next);
  opts = std::move(next);
}

void validate(const Options& opts) {
  for (const Spec& s : kSpecs) {
    std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(opts.*member)>;
          if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t> || std::is_same_v<T, float>)
            check_range(s, static_cast<double>(opts.*member));
          else if constexpr (std::is_same_v<T, std::vector<std::string>>)
            check_stop(opts.*member);
        },
        s.field);
  }
}

Options resolve(const json* model_params, const json* request_options, std::vector<std::string>* ignored) {
  Options opts;
  if (model_params) apply_json(opts, *model_params, ignored);
  if (request_options) apply_json(opts, *request_options, ignored);
  validate(opts);
  return opts;
}

json to_json(const Options& opts) {
  json out = json::object();
  for (const Spec& s : kSpecs) {
    std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(opts.*member)>;
          const std::string key(s.name);
          if constexpr (std::is_same_v<T, float>)
            out[key] = float_for_json(opts.*member);
          else if constexpr (std::is_same_v<T, std::optional<bool>>) {
            if (opts.*member) out[key] = *(opts.*member);
          } else
            out[key] = opts.*member;
        },
        s.field);
  }
  return out;
}

}  // namespace kiln::engine
