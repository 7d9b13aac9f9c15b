#pragma once
// Generation options as Ollama names, types and defaults them (api.Options):
// what a request's "options" object, a Modelfile's PARAMETER lines and the
// REPL's "/set parameter" set.
//
// Precedence is Ollama's: defaults, then the model's parameters (Modelfile /
// params layer), then the request's options; a key set later replaces the
// earlier value wholesale (a request's "stop" replaces the Modelfile's list).
//
// Parsing follows Go's FromMap: JSON null means "not set"; integer options
// accept any JSON number and drop the fraction (40.7 -> 40); a value of the
// wrong JSON type is an error ("option \"top_k\" must be of type integer");
// unknown and deprecated keys are ignored and reported as warnings. On top of
// Ollama, kiln rejects absurd values with a kiln::Error naming the option and
// the accepted range (negative temperature, top_p outside [0, 1], num_ctx of
// 10^9, ...): the server answers them 400 instead of failing later.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace kiln::engine {

struct Options {
  // ---- Runner options: fixed when a model is loaded.
  int num_ctx = 4096;    // context length (Ollama's default since 0.6 era: 4096)
  int num_batch = 512;   // prompt tokens per forward step
  int num_gpu = -1;      // layers on the GPU; -1: decide from free memory
  int main_gpu = 0;
  std::optional<bool> use_mmap;  // unset: the engine decides
  int num_thread = 0;    // 0: decide from the machine

  // ---- Prediction options: per request.
  int num_keep = 4;      // prompt tokens kept when the context shifts (-1: all)
  int64_t seed = -1;     // -1: a random seed; any other value: reproducible
  int num_predict = -1;  // -1: until a stop condition; -2: until the context is full
  int top_k = 40;        // 0: disabled
  float top_p = 0.9f;    // 1: disabled
  float min_p = 0.0f;    // 0: disabled
  float typical_p = 1.0f;  // 1: disabled
  int repeat_last_n = 64;  // 0: no penalties; -1: num_ctx
  float temperature = 0.8f;  // 0: greedy
  float repeat_penalty = 1.1f;  // 1: disabled
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::string> stop;

  bool operator==(const Options&) const = default;
};

// Limits on what validate() accepts (kept in one place for docs and tests).
inline constexpr int kMaxNumCtx = 1 << 24;    // 16M tokens: beyond any model today
inline constexpr int kMaxNumBatch = 1 << 16;
inline constexpr int kMaxNumThread = 1024;
inline constexpr size_t kMaxStopStrings = 64;
inline constexpr size_t kMaxStopBytes = 1024;
inline constexpr float kMaxTemperature = 100.0f;
inline constexpr float kMaxPenaltyMagnitude = 100.0f;

// Applies every key of a JSON object (a request's "options" or a params
// layer) on top of `opts`, then validates the result. Throws kiln::Error on a
// non-object, a wrongly typed value or an out-of-range value. Unknown and
// deprecated keys are skipped; their names are appended to `ignored` when
// given (the server logs them as Ollama does).
void apply_json(Options& opts, const nlohmann::json& object, std::vector<std::string>* ignored = nullptr);

// Applies one Modelfile PARAMETER / "/set parameter" pair; the value text is
// parsed with Go's rules (strconv.Atoi, ParseFloat, ParseBool). "stop"
// appends to the list, as repeated PARAMETER stop lines do. Validates.
void apply_parameter(Options& opts, std::string_view name, std::string_view value);

// Throws kiln::Error naming the first option outside its accepted range.
void validate(const Options& opts);

// defaults <- model parameters <- request options, validated.
Options resolve(const nlohmann::json* model_params, const nlohmann::json* request_options,
                std::vector<std::string>* ignored = nullptr);

// Every option as a JSON object (use_mmap only when set), readable back by
// apply_json.
nlohmann::json to_json(const Options& opts);

// True for a key Ollama accepts in "options" (deprecated ones excluded).
bool is_option_name(std::string_view name);

}  // namespace kiln::engine
