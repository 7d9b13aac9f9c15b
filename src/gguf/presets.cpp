#include "gguf/presets.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace kiln::gguf {
namespace {

// Short but real chat templates: each renders the model's own turn markers,
// which is what llama.cpp and kiln's template engine recognise.
constexpr std::string_view kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

constexpr std::string_view kQwen2Template =
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}";

constexpr std::string_view kQwen3Template =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- endif %}"
    "{%- endif %}";

constexpr std::string_view kGemma3Template =
    "{{ bos_token }}{%- for message in messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}";

// Hyperparameters from each model's config.json (instruct variants).
const std::array<Preset, 6> kPresets = {{
    {.name = "llama3-8b", .display_name = "Meta Llama 3 8B Instruct", .arch = "llama", .size_label = "8B",
     .n_vocab = 128256, .n_embd = 4096, .n_layer = 32, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
     .n_ff = 14336, .context_length = 8192, .rope_base = 500000.0, .rms_eps = 1e-5f, .sliding_window = 0,
     .has_output = true, .qkv_bias = false, .qk_norm = false, .post_norms = false, .head_dim_keys = false,
     .rope_dim_key = true, .vocab_size_key = true, .llama3_rope = std::nullopt, .vocab = VocabKind::Llama3,
     .chat_template = kLlama3Template, .note = ""},
    {.name = "llama3.2-1b", .display_name = "Llama 3.2 1B Instruct", .arch = "llama", .size_label = "1B",
     .n_vocab = 128256, .n_embd = 2048, .n_layer = 16, .n_head = 32, .n_head_kv = 8, .head_dim = 64,
     .n_ff = 8192, .context_length = 131072, .rope_base = 500000.0, .rms_eps = 1e-5f, .sliding_window = 0,
     .has_output = false, .qkv_bias = false, .qk_norm = false, .post_norms = false, .head_dim_keys = true,
     .rope_dim_key = true, .vocab_size_key = true,
     .llama3_rope = Llama3RopeScaling{.factor = 32.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                                      .original_context = 8192},
     .vocab = VocabKind::Llama3, .chat_template = kLlama3Template,
     .note = "tied embeddings; llama3 RoPE scaling stored as rope_freqs.weight"},
    {.name = "qwen2.5-0.5b", .display_name = "Qwen2.5 0.5B Instruct", .arch = "qwen2", .size_label = "0.5B",
     .n_vocab = 151936, .n_embd = 896, .n_layer = 24, .n_head = 14, .n_head_kv = 2, .head_dim = 64,
     .n_ff = 4864, .context_length = 32768, .rope_base = 1000000.0, .rms_eps = 1e-6f, .sliding_window = 0,
     .has_output = true, .qkv_bias = true, .qk_norm = false, .post_norms = false, .head_dim_keys = false,
     .rope_dim_key = false, .vocab_size_key = false, .llama3_rope = std::nullopt, .vocab = VocabKind::Qwen2,
     .chat_template = kQwen2Template,
     .note = "config.json ties the embeddings, but Qwen's own GGUF files (and the 491 MB Q4_K_M test model) "
             "store output.weight; the preset follows the files",
     .name_ordered_quant = true},
    {.name = "qwen2.5-1.5b", .display_name = "Qwen2.5 1.5B Instruct", .arch = "qwen2", .size_label = "1.5B",
     .n_vocab = 151936, .n_embd = 1536, .n_layer = 28, .n_head = 12, .n_head_kv = 2, .head_dim = 128,
     .n_ff = 8960, .context_length = 32768, .rope_base = 1000000.0, .rms_eps = 1e-6f, .sliding_window = 0,
     .has_output = true, .qkv_bias = true, .qk_norm = false, .post_norms = false, .head_dim_keys = false,
     .rope_dim_key = false, .vocab_size_key = false, .llama3_rope = std::nullopt, .vocab = VocabKind::Qwen2,
     .chat_template = kQwen2Template,
     .note = "like qwen2.5-0.5b: output.weight stored as in Qwen's GGUF files", .name_ordered_quant = true},
    {.name = "qwen3-0.6b", .display_name = "Qwen3 0.6B", .arch = "qwen3", .size_label = "0.6B",
     .n_vocab = 151936, .n_embd = 1024, .n_layer = 28, .n_head = 16, .n_head_kv = 8, .head_dim = 128,
     .n_ff = 3072, .context_length = 40960, .rope_base = 1000000.0, .rms_eps = 1e-6f, .sliding_window = 0,
     .has_output = false, .qkv_bias = false, .qk_norm = true, .post_norms = false, .head_dim_keys = true,
     .rope_dim_key = false, .vocab_size_key = false, .llama3_rope = std::nullopt, .vocab = VocabKind::Qwen3,
     .chat_template = kQwen3Template, .note = "tied embeddings"},
    {.name = "gemma3-270m", .display_name = "Gemma 3 270m", .arch = "gemma3", .size_label = "270M",
     .n_vocab = 262144, .n_embd = 640, .n_layer = 18, .n_head = 4, .n_head_kv = 1, .head_dim = 256,
     .n_ff = 2048, .context_length = 32768, .rope_base = 1000000.0, .rms_eps = 1e-6f, .sliding_window = 512,
     .has_output = false, .qkv_bias = false, .qk_norm = true, .post_norms = true, .head_dim_keys = true,
     .rope_dim_key = false, .vocab_size_key = false, .llama3_rope = std::nullopt, .vocab = VocabKind::Gemma3,
     .chat_template = kGemma3Template,
     .note = "tied embeddings; 5 sliding-window layers per global one (llama.cpp's fixed gemma3 pattern)"},
}};

std::string key(const Preset& p, std::string_view suffix) {
  return std::string(p.arch) + "." + std::string(suffix);
}

int64_t layers_or_default(const Preset& p, int64_t n_layers) {
  if (n_layers < 0 || n_layers > p.n_layer)
    throw Error("preset " + std::string(p.name) + " has " + std::to_string(p.n_layer) +
                " layers; cannot build it with " + std::to_string(n_layers));
  return n_layers == 0 ? p.n_layer : n_layers;
}

}  // namespace

std::span<const Preset> all_presets() { return kPresets; }

const Preset* find_preset(std::string_view name) {
  for (const auto& p : kPresets)
    if (p.name == name) return &p;
  return nullptr;
}

const Preset& preset_or_throw(std::string_view name) {
  if (const Preset* p = find_preset(name)) return *p;
  std::string known;
  for (const auto& p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p.name);
  throw Error("unknown model preset '" + std::string(name) + "' (known: " + known + ")");
}

std::vector<TensorSpec> preset_tensors(const Preset& p, int64_t n_layers) {
  n_layers = layers_or_default(p, n_layers);
  const int64_t q_dim = p.n_head * p.head_dim;
  const int64_t kv_dim = p.n_head_kv * p.head_dim;

  std::vector<TensorSpec> global;
  global.push_back({"token_embd.weight", {p.n_embd, p.n_vocab}, -1});
  global.push_back({"output_norm.weight", {p.n_embd}, -1});
  if (p.has_output) global.push_back({"output.weight", {p.n_embd, p.n_vocab}, -1});
  if (p.llama3_rope) global.push_back({"rope_freqs.weight", {p.head_dim / 2}, -1});

  std::vector<TensorSpec> block;  // layer 0's, renamed per layer below
  block.push_back({"attn_norm.weight", {p.n_embd}, 0});
  block.push_back({"attn_q.weight", {p.n_embd, q_dim}, 0});
  block.push_back({"attn_k.weight", {p.n_embd, kv_dim}, 0});
  block.push_back({"attn_v.weight", {p.n_embd, kv_dim}, 0});
  block.push_back({"attn_output.weight", {q_dim, p.n_embd}, 0});
  if (p.qkv_bias) {
    block.push_back({"attn_q.bias", {q_dim}, 0});
    block.push_back({"attn_k.bias", {kv_dim}, 0});
    block.push_back({"attn_v.bias", {kv_dim}, 0});
  }
  if (p.qk_norm) {
    block.push_back({"attn_q_norm.weight", {p.head_dim}, 0});
    block.push_back({"attn_k_norm.weight", {p.head_dim}, 0});
  }
  if (p.post_norms) {
    block.push_back({"post_attention_norm.weight", {p.n_embd}, 0});
    block.push_back({"post_ffw_norm.weight", {p.n_embd}, 0});
  }
  block.push_back({"ffn_norm.weight", {p.n_embd}, 0});
  block.push_back({"ffn_gate.weight", {p.n_embd, p.n_ff}, 0});
  block.push_back({"ffn_up.weight", {p.n_embd, p.n_ff}, 0});
  block.push_back({"ffn_down.weight", {p.n_ff, p.n_embd}, 0});

  // llama-quantize's order (weight_name_comparer): by layer, then by name.
  auto by_name = [](const TensorSpec& a, const TensorSpec& b) { return a.name < b.name; };
  std::sort(global.begin(), global.end(), by_name);
  std::sort(block.begin(), block.end(), by_name);

  std::vector<TensorSpec> out = std::move(global);
  out.reserve(out.size() + block.size() * static_cast<size_t>(n_layers));
  for (int64_t i = 0; i < n_layers; ++i)
    for (const auto& t : block)
      out.push_back({"blk." + std::to_string(i) + "." + t.name, t.shape, static_cast<int>(i)});
  return out;
}

std::vector<std::pair<std::string, Value>> preset_metadata(const Preset& p, int64_t n_layers) {
  n_layers = layers_or_default(p, n_layers);
  auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  std::vector<std::pair<std::string, Value>> kv;
  kv.emplace_back("general.architecture", Value::string(std::string(p.arch)));
  kv.emplace_back("general.type", Value::string("model"));
  kv.emplace_back("general.name", Value::string(std::string(p.display_name) + " (synthetic random weights)"));
  kv.emplace_back("general.size_label", Value::string(std::string(p.size_label)));
  kv.emplace_back(key(p, "block_count"), u32(n_layers));
  kv.emplace_back(key(p, "context_length"), u32(p.context_length));
  kv.emplace_back(key(p, "embedding_length"), u32(p.n_embd));
  kv.emplace_back(key(p, "feed_forward_length"), u32(p.n_ff));
  kv.emplace_back(key(p, "attention.head_count"), u32(p.n_head));
  kv.emplace_back(key(p, "attention.head_count_kv"), u32(p.n_head_kv));
  kv.emplace_back(key(p, "rope.freq_base"), Value::f32(static_cast<float>(p.rope_base)));
  kv.emplace_back(key(p, "attention.layer_norm_rms_epsilon"), Value::f32(p.rms_eps));
  if (p.head_dim_keys) {
    kv.emplace_back(key(p, "attention.key_length"), u32(p.head_dim));
    kv.emplace_back(key(p, "attention.value_length"), u32(p.head_dim));
  }
  if (p.sliding_window > 0) kv.emplace_back(key(p, "attention.sliding_window"), u32(p.sliding_window));
  if (p.vocab_size_key) kv.emplace_back(key(p, "vocab_size"), u32(p.n_vocab));
  if (p.rope_dim_key) kv.emplace_back(key(p, "rope.dimension_count"), u32(p.head_dim));
  kv.emplace_back("general.quantization_version", Value::u32(2));
  return kv;
}

int64_t preset_parameters(const Preset& p) {
  int64_t n = 0;
  for (const auto& t : preset_tensors(p)) {
    int64_t e = 1;
    for (int64_t d : t.shape) e *= d;
    n += e;
  }
  return n;
}

std::vector<float> llama3_rope_factors(const Preset& p) {
  if (!p.llama3_rope) throw Error("preset " + std::string(p.name) + " has no llama3 RoPE scaling");
  const Llama3RopeScaling& s = *p.llama3_rope;
  const double low_freq_wavelen = static_cast<double>(s.original_context) / s.low_freq_factor;
  const double high_freq_wavelen = static_cast<double>(s.original_context) / s.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < p.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(p.rope_base, static_cast<double>(i) / static_cast<double>(p.head_dim));
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double f;
    if (wavelen < high_freq_wavelen) {
      f = 1.0;  // high frequencies keep their speed
    } else if (wavelen > low_freq_wavelen) {
      f = s.factor;  // low frequencies are slowed by the full factor
    } else {  // in between: interpolate smoothly
      const double smooth = (static_cast<double>(s.original_context) / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / s.factor + smooth);
    }
    factors.push_back(static_cast<float>(f));
  }
  return factors;
}

}  // namespace kiln::gguf
