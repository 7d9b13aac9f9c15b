#include "server/openai_common.h"

#include <chrono>
#include <cmath>
#include <random>

#include "server/http_error.h"

namespace kiln::server::openai {

std::string type_name(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null: return "null";
    case ojson::value_t::boolean: return "boolean";
    case ojson::value_t::string: return "string";
    case ojson::value_t::array: return "array";
    case ojson::value_t::object: return "object";
    default: return "number";
  }
}

void type_error(std::string_view key, std::string_view expected, const ojson& got) {
  throw bad_request("invalid type for '" + std::string(key) + "': expected " + std::string(expected) + ", got " +
                    type_name(got));
}

const ojson* field(const ojson& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<std::string> string_field(const ojson& object, std::string_view key) {
  const ojson* v = field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) type_error(key, "a string", *v);
  return v->get<std::string>();
}

std::optional<bool> bool_field(const ojson& object, std::string_view key) {
  const ojson* v = field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) type_error(key, "a boolean", *v);
  return v->get<bool>();
}

std::optional<double> number_field(const ojson& object, std::string_view key) {
  const ojson* v = field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) type_error(key, "a number", *v);
  return v->get<double>();
}

std::optional<int64_t> integer_field(const ojson& object, std::string_view key) {
  const ojson* v = field(object, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    // Integral floats within int64 range are accepted; 1e300 or 3.5 are not.
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e18) return static_cast<int64_t>(d);
  }
  type_error(key, "an integer", *v);
}

ojson parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) throw bad_request("missing request body");
  ojson j;
  try {
    j = ojson::parse(body);
  } catch (const ojson::exception& e) {  // parse_error, or out_of_range for 1e999
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    throw bad_request("invalid JSON: " + what);
  }
  if (!j.is_object()) throw bad_request("request body must be a JSON object, not " + type_name(j));
  return j;
}

std::optional<std::vector<std::string>> stop_field(const ojson& body) {
  const ojson* v = field(body, "stop");
  if (!v) return std::nullopt;
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
    return stops;
  }
  if (!v->is_array()) type_error("stop", "a string or an array of strings", *v);
  for (const auto& s : *v) {
    if (!s.is_string()) type_error("stop", "a string or an array of strings", s);
    stops.push_back(s.get<std::string>());
  }
  return stops;
}

void sampling_options(const ojson& body, std::initializer_list<std::string_view> max_tokens_keys, ojson& options) {
  for (std::string_view key : max_tokens_keys) {
    if (auto n = integer_field(body, key)) {
      // OpenAI's minimum; Ollama's num_predict would read 0 or -1 as
      // "no limit", the opposite of what the client asked.
      if (*n < 1) throw bad_request("invalid value for '" + std::string(key) + "': must be at least 1");
      options["num_predict"] = *n;
      break;
    }
  }
  options["temperature"] = number_field(body, "temperature").value_or(1.0);
  options["top_p"] = number_field(body, "top_p").value_or(1.0);
  if (auto seed = integer_field(body, "seed")) options["seed"] = *seed;
  if (auto f = number_field(body, "frequency_penalty")) options["frequency_penalty"] = *f;
  if (auto p = number_field(body, "presence_penalty")) options["presence_penalty"] = *p;
  if (auto stops = stop_field(body)) options["stop"] = *stops;
}

void require_single_choice(const ojson& body) {
  for (std::string_view key : {"n", "best_of"}) {
    if (auto n = integer_field(body, key); n && *n != 1)
      throw bad_request("invalid value for '" + std::string(key) + "': only 1 is supported");
  }
}

std::string new_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::string(prefix) + std::to_string(rng() % 10'000'000'000ULL);
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ojson usage(const ojson& final_chunk) {
  const int64_t prompt = final_chunk.value("prompt_eval_count", int64_t{0});
  const int64_t completion = final_chunk.value("eval_count", int64_t{0});
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

std::string finish_reason(const ojson& final_chunk, bool tool_calls) {
  if (tool_calls) return "tool_calls";
  const ojson* reason = field(final_chunk, "done_reason");
  if (reason && reason->is_string() && reason->get<std::string>() == "length") return "length";
  return "stop";
}

ojson token_bytes(std::string_view text) {
  ojson bytes = ojson::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

ojson stream_error(const std::string& message) {
  return {{"error", {{"message", message}, {"type", "api_error"}, {"param", nullptr}, {"code", nullptr}}}};
}

}  // namespace kiln::server::openai
