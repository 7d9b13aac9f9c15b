#pragma once
// Hyperparameters of a model, read from its GGUF metadata (<arch>.* keys, as
// llama.cpp writes and reads them).
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace kiln::gguf {
class File;
}

namespace kiln::models {

enum class Arch { Llama, Qwen2, Qwen3, Gemma3 };

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string arch_name;  // general.architecture
  int64_t n_vocab = 0;    // rows of token_embd.weight
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // attention.key_length (default n_embd / n_head)
  int64_t n_ff = 0;
  int64_t context_length = 0;
  float rms_eps = 1e-5f;

  // RoPE. Global layers use rope_base / rope_freq_scale; gemma3's sliding
  // window layers use rope_base_local with no scaling (as llama.cpp does).
  backend::RopeStyle rope_style = backend::RopeStyle::Normal;
  int64_t rope_dims = 0;
  float rope_base = 10000.f;
  float rope_freq_scale = 1.f;
  float rope_base_local = 10000.f;
  // Llama 3.1-style per-pair divisors computed from rope.scaling.* metadata
  // when the file has no rope_freqs.weight tensor (empty otherwise).
  std::vector<float> rope_factors;

  // Sliding-window attention: window size and which layers use it.
  int64_t sliding_window = 0;
  std::vector<bool> swa_layers;  // n_layer entries (all false without a window)

  float query_scale = 0.f;       // multiplies q.k; 1/sqrt(head_dim) unless the architecture says otherwise
  float attn_softcap = 0.f;      // 0: none
  float final_softcap = 0.f;     // 0: none

  bool is_swa(int layer) const { return swa_layers[size_t(layer)]; }
};

// Reads the configuration of a supported architecture. Throws kiln::Error
// naming an unsupported architecture or a missing/malformed key.
ModelConfig read_config(const gguf::File& file);

}  // namespace kiln::models
