#pragma once
// Shapes of real models: hyperparameters, GGUF metadata keys and the exact
// tensor names and shapes a converted file of that model has. `kiln synth`
// writes random-weight files from these so that benchmarks run at real sizes
// where no real model can be downloaded (speed does not depend on values).
//
// Sources: each model's config.json on its hub page, and GGUF files converted
// by llama.cpp (cross-checked in tests/gguf/synthetic_test.cpp against the
// real qwen2.5 0.5B and gemma3 270M files when they are present).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/gguf.h"

namespace kiln::gguf {

enum class VocabKind {
  Llama3,  // byte-level BPE ("gpt2", pre "llama-bpe"), 128256 tokens
  Qwen2,   // byte-level BPE ("gpt2", pre "qwen2"), 151936 tokens
  Qwen3,   // as Qwen2 plus <tool_response>/<think> tokens
  Gemma3,  // SentencePiece ("llama"), 262144 tokens with scores
};

// Llama 3.1+ long-context RoPE: frequencies are divided by per-dimension
// factors that llama.cpp reads from a rope_freqs.weight tensor.
struct Llama3RopeScaling {
  double factor;
  double low_freq_factor;
  double high_freq_factor;
  int64_t original_context;
};

struct Preset {
  std::string_view name;          // "llama3-8b"
  std::string_view display_name;  // general.name
  std::string_view arch;          // general.architecture
  std::string_view size_label;    // general.size_label
  int64_t n_vocab;
  int64_t n_embd;
  int64_t n_layer;
  int64_t n_head;
  int64_t n_head_kv;
  int64_t head_dim;
  int64_t n_ff;
  int64_t context_length;
  double rope_base;
  float rms_eps;
  int64_t sliding_window;         // 0: every layer attends globally
  bool has_output;                // false: tied embeddings, no output.weight
  bool qkv_bias;                  // qwen2: attn_q/k/v.bias
  bool qk_norm;                   // gemma3, qwen3: attn_q_norm / attn_k_norm
  bool post_norms;                // gemma3: post_attention_norm, post_ffw_norm
  bool head_dim_keys;             // writes attention.key_length / value_length
  bool rope_dim_key;              // writes rope.dimension_count
  bool vocab_size_key;            // writes <arch>.vocab_size
  std::optional<Llama3RopeScaling> llama3_rope;
  VocabKind vocab;
  std::string_view chat_template;
  std::string_view note;          // where the layout comes from, when it surprises
  // Quantize as the llama.cpp that made the model's published GGUFs did
  // (MixModel::name_ordered_layers): same sizes, other layers get Q6_K.
  bool name_ordered_quant = false;
};

std::span<const Preset> all_presets();
// nullptr if there is no preset of that name.
const Preset* find_preset(std::string_view name);
// Same, but throws kiln::Error listing the known names.
const Preset& preset_or_throw(std::string_view name);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] first
  int layer;                   // -1 outside the blocks
};

// Every tensor of the model in the order llama-quantize writes them (global
// tensors by name, then each block's tensors by name). `n_layers` 0 means the
// preset's own layer count; a smaller one makes a cut-down model for tests.
std::vector<TensorSpec> preset_tensors(const Preset& p, int64_t n_layers = 0);

// Architecture and general.* metadata (not the tokenizer, not file_type).
std::vector<std::pair<std::string, Value>> preset_metadata(const Preset& p, int64_t n_layers = 0);

// Parameters (weights counted once, tied embeddings once).
int64_t preset_parameters(const Preset& p);

// The rope_freqs.weight values of a Llama 3.1+ model (head_dim / 2 factors).
std::vector<float> llama3_rope_factors(const Preset& p);

}  // namespace kiln::gguf
