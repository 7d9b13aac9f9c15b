#include "server/model_json.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "core/dtype.h"
#include "core/error.h"
#include "server/time_format.h"
#include "store/model_info.h"

namespace kiln::server {
namespace {

// The double whose shortest decimal form is the float's shortest form, so
// 1e-6f is written 1e-06 and not 9.999999974752427e-07.
double float32_as_decimal(float f) {
  char buf[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, static_cast<double>(f));
    const double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return f;
}

}  // namespace

store::ModelConfig read_config(const store::ModelStore& store, const store::StoredModel& model) {
  try {
    return store::ModelConfig::parse(store.blobs().read_text(model.manifest.config.digest, 1 << 20));
  } catch (const Error&) {
    return {};
  }
}

nlohmann::ordered_json model_details(const store::ModelConfig& c, const std::string& parent_model) {
  nlohmann::ordered_json d;
  d["parent_model"] = parent_model;
  d["format"] = c.model_format;
  d["family"] = c.model_family;
  d["families"] = c.model_families.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.model_families);
  d["parameter_size"] = c.model_type;
  d["quantization_level"] = c.file_type;
  return d;
}

nlohmann::ordered_json list_entry(const store::ModelStore& store, const store::StoredModel& m) {
  nlohmann::ordered_json e;
  const std::string name = m.name.display();
  e["name"] = name;
  e["model"] = name;
  e["modified_at"] = rfc3339(to_system_time(m.modified));
  e["size"] = m.size;
  e["digest"] = m.digest.hex();
  e["details"] = model_details(read_config(store, m));
  return e;
}

nlohmann::json gguf_value_json(const gguf::Value& v, bool verbose) {
  using gguf::ValueType;
  switch (v.type()) {
    case ValueType::U8:
    case ValueType::U16:
    case ValueType::U32:
    case ValueType::U64: return v.as_uint();
    case ValueType::I8:
    case ValueType::I16:
    case ValueType::I32:
    case ValueType::I64: return v.as_int();
    case ValueType::F32: return float32_as_decimal(static_cast<float>(v.as_float()));
    case ValueType::F64: return v.as_float();
    case ValueType::BOOL: return v.as_bool();
    case ValueType::STRING: return v.as_string();
    case ValueType::ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      if (!verbose && v.size() > 5) return out;
      for (const auto& item : v.as_array()) out.push_back(gguf_value_json(item, verbose));
      return out;
    }
  }
  return nullptr;
}

nlohmann::json model_info_json(const gguf::File& file, bool verbose) {
  nlohmann::json info = nlohmann::json::object();
  for (const auto& [key, value] : file.metadata()) {
    if (key == "general.name" || key == "tokenizer.chat_template") continue;
    info[key] = gguf_value_json(value, verbose);
  }
  uint64_t params = 0;
  for (const auto& t : file.tensors()) params += static_cast<uint64_t>(t.nelements());
  info["general.parameter_count"] = params;
  return info;
}

nlohmann::json tensors_json(const gguf::File& file) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : file.tensors()) {
    std::string type(type_name(t.type));  // ggml's names, upper case as Ollama prints them ("Q4_K")
    for (char& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    out.push_back({{"name", t.name}, {"type", type}, {"shape", t.shape}});
  }
  return out;
}

}  // namespace kiln::server
