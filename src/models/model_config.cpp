#include "models/model_config.h"

#include <cmath>
#include <numbers>
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"

namespace kiln::models {

namespace {

int64_t required_int(const gguf::File& f, const std::string& key) {
  const gguf::Value* v = f.find(key);
  if (!v) throw kiln::Error(f.name() + ": missing metadata key " + key);
  return v->as_int();
}

int64_t positive(const gguf::File& f, const std::string& key, int64_t v) {
  if (v <= 0) throw kiln::Error(f.name() + ": metadata " + key + " must be positive, got " + std::to_string(v));
  return v;
}

// Meta's Llama 3.1 frequency smoothing: wavelengths longer than
// original_context / low_freq_factor are divided by `factor`, shorter than
// original_context / high_freq_factor are kept, and the band in between is
// interpolated. Returned as divisors of each pair's frequency, the form
// llama.cpp stores in rope_freqs.weight.
std::vector<float> llama3_factors(double base, int64_t dims, double factor, double low, double high, double original) {
  std::vector<float> out(size_t(dims / 2));
  const double low_wavelen = original / low, high_wavelen = original / high;
  for (int64_t i = 0; i < dims / 2; ++i) {
    const double freq = std::pow(base, -2.0 * double(i) / double(dims));
    const double wavelen = 2 * std::numbers::pi / freq;
    double divisor = 1.0;
    if (wavelen > low_wavelen) {
      divisor = factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (original / wavelen - low) / (high - low);
      divisor = 1.0 / ((1 - smooth) / factor + smooth);
    }
    out[size_t(i)] = float(divisor);
  }
  return out;
}

}  // namespace

ModelConfig read_config(const gguf::File& f) {
  ModelConfig c;
  c.arch_name = f.architecture();
  if (c.arch_name == "llama") c.arch = Arch::Llama;
  else if (c.arch_name == "qwen2") c.arch = Arch::Qwen2;
  else if (c.arch_name == "qwen3") c.arch = Arch::Qwen3;
  else if (c.arch_name == "gemma3") c.arch = Arch::Gemma3;
  else
    throw kiln::Error(f.name() + ": model architecture '" + c.arch_name +
                      "' is not supported (kiln runs llama, qwen2, qwen3 and gemma3)");
  auto key = [&](const char* suffix) { return f.arch_key(suffix); };

  c.n_embd = positive(f, key("embedding_length"), required_int(f, key("embedding_length")));
  c.n_layer = positive(f, key("block_count"), required_int(f, key("block_count")));
  c.n_head = positive(f, key("attention.head_count"), required_int(f, key("attention.head_count")));
  c.n_head_kv = positive(f, key("attention.head_count_kv"), f.get_int(key("attention.head_count_kv"), c.n_head));
  c.n_ff = positive(f, key("feed_forward_length"), required_int(f, key("feed_forward_length")));
  c.head_dim = positive(f, key("attention.key_length"), f.get_int(key("attention.key_length"), c.n_embd / c.n_head));
  const int64_t v_dim = f.get_int(key("attention.value_length"), c.head_dim);
  if (v_dim != c.head_dim)
    throw kiln::Error(f.name() + ": value head dim " + std::to_string(v_dim) + " differs from key head dim " +
                      std::to_string(c.head_dim) + " (not supported)");
  if (c.n_head % c.n_head_kv != 0)
    throw kiln::Error(f.name() + ": " + std::to_string(c.n_head) + " query heads are not a multiple of " +
                      std::to_string(c.n_head_kv) + " kv heads");
  c.context_length = f.get_int(key("context_length"), 4096);
  c.rms_eps = float(f.get_float(key("attention.layer_norm_rms_epsilon"), 1e-5));

  c.rope_style = c.arch == Arch::Llama ? backend::RopeStyle::Normal : backend::RopeStyle::Neox;
  c.rope_dims = f.get_int(key("rope.dimension_count"), c.head_dim);
  if (c.rope_dims <= 0 || c.rope_dims > c.head_dim || c.rope_dims % 2 != 0)
    throw kiln::Error(f.name() + ": rope.dimension_count " + std::to_string(c.rope_dims) + " does not fit heads of " +
                      std::to_string(c.head_dim));
  c.rope_base = float(f.get_float(key("rope.freq_base"), 10000.0));
  const std::string scaling = f.get_string(key("rope.scaling.type"), "none");
  const double factor = f.get_float(key("rope.scaling.factor"), 0.0);
  if (scaling == "linear") {
    if (factor > 0) c.rope_freq_scale = float(1.0 / factor);
  } else if (scaling == "llama3") {
    if (!f.tensor("rope_freqs.weight"))
      c.rope_factors = llama3_factors(c.rope_base, c.rope_dims, factor > 0 ? factor : 8.0,
                                      f.get_float(key("rope.scaling.low_freq_factor"), 1.0),
                                      f.get_float(key("rope.scaling.high_freq_factor"), 4.0),
                                      double(f.get_int(key("rope.scaling.original_context_length"), 8192)));
  } else if (scaling != "none" && !scaling.empty()) {
    throw kiln::Error(f.name() + ": rope scaling type '" + scaling + "' is not supported");
  }

  c.query_scale = float(1.0 / std::sqrt(double(c.head_dim)));
  c.attn_softcap = float(f.get_float(key("attn_logit_softcapping"), 0.0));
  c.final_softcap = float(f.get_float(key("final_logit_softcapping"), 0.0));
  c.swa_layers.assign(size_t(c.n_layer), false);

  if (c.arch == Arch::Gemma3) {
    // Gemma 3: local layers (window 512 in the released models) with rope
    // base 10k, every 6th layer global; the pattern may come from metadata
    // (a period, or one flag per layer as newer converters write).
    c.sliding_window = f.get_int(key("attention.sliding_window"), 0);
    if (c.sliding_window > 0) {
      const gguf::Value* pat = f.find(key("attention.sliding_window_pattern"));
      if (pat && pat->is_array()) {
        if (int64_t(pat->size()) != c.n_layer)
          throw kiln::Error(f.name() + ": sliding_window_pattern has " + std::to_string(pat->size()) +
                            " entries for " + std::to_string(c.n_layer) + " layers");
        for (int64_t il = 0; il < c.n_layer; ++il) c.swa_layers[size_t(il)] = (*pat)[size_t(il)].as_bool();
      } else {
        const int64_t period = pat ? pat->as_int() : 6;
        for (int64_t il = 0; il < c.n_layer; ++il) c.swa_layers[size_t(il)] = period > 0 && il % period < period - 1;
      }
    }
    // HF's query_pre_attn_scalar is head_dim for every released size but
    // 27B (n_embd / n_head); llama.cpp keys the choice on the model size.
    if (c.n_layer == 62 && c.n_embd == 5376) c.query_scale = float(1.0 / std::sqrt(double(c.n_embd / c.n_head)));
  }
  return c;
}

}  // namespace kiln::models
