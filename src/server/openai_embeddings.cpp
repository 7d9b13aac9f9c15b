// OpenAI embeddings <-> Ollama /api/embed.
#include "server/openai_embeddings.h"

#include <bit>
#include <cstring>

#include "server/http_error.h"

namespace kiln::server::openai {
namespace {

[[noreturn]] void token_arrays() {
  throw bad_request("invalid value for 'input': token arrays are not supported, send the input as text");
}

ojson inputs_of(const ojson& body) {
  const ojson* input = field(body, "input");
  if (!input) throw bad_request("invalid input: missing 'input'");
  if (input->is_string()) return ojson::array({*input});
  if (!input->is_array()) type_error("input", "a string or an array of strings", *input);
  if (input->empty()) throw bad_request("invalid input: 'input' must not be empty");
  for (const auto& item : *input) {
    if (item.is_number() || item.is_array()) token_arrays();
    if (!item.is_string()) type_error("input", "a string or an array of strings", item);
  }
  return *input;
}

}  // namespace

EmbeddingsTranslation embeddings_request(const ojson& body) {
  EmbeddingsTranslation t;
  t.model = string_field(body, "model").value_or("");
  t.native = ojson::object();
  if (const ojson* model = field(body, "model")) t.native["model"] = *model;
  t.native["input"] = inputs_of(body);
  if (auto dims = integer_field(body, "dimensions")) {
    if (*dims < 1) throw bad_request("invalid value for 'dimensions': must be at least 1");
    t.native["dimensions"] = *dims;
  }
  const std::string format = string_field(body, "encoding_format").value_or("float");
  if (format == "base64") t.base64 = true;
  else if (format != "float")
    throw bad_request("Invalid value for 'encoding_format' = " + format + ". Supported values: ['float', 'base64'].");
  return t;
}

std::string floats_base64(const std::vector<float>& values) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(values.size() * 4, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(values[i]);
    for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<char>((bits >> (8 * b)) & 0xff);  // little-endian
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t k = 0; k < 3; ++k)
      chunk = (chunk << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(chunk >> (18 - 6 * k)) & 0x3f] : '=';
  }
  return out;
}

ojson embedding_list(const ojson& native, const EmbeddingsTranslation& request) {
  ojson data = ojson::array();
  if (const ojson* embeddings = field(native, "embeddings"); embeddings && embeddings->is_array()) {
    for (size_t i = 0; i < embeddings->size(); ++i) {
      const ojson& e = (*embeddings)[i];
      ojson value;
      if (request.base64) value = floats_base64(e.get<std::vector<float>>());
      else value = e;
      data.push_back({{"object", "embedding"}, {"embedding", std::move(value)}, {"index", i}});
    }
  }
  const int64_t tokens = native.value("prompt_eval_count", int64_t{0});
  std::string model = native.value("model", "");
  if (model.empty()) model = request.model;
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
}

}  // namespace kiln::server::openai
