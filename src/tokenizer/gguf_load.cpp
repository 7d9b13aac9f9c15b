// Tokenizer::from_gguf: reads tokenizer.ggml.* into a VocabSpec.
//
// Defaults for absent keys follow llama.cpp: SentencePiece ("llama") adds BOS,
// not EOS, and a space prefix, with bos=1, eos=2, unk=0; byte-level BPE
// ("gpt2") adds neither, with bos=eos=11 (GPT-2's defaults), except the Llama 3
// pre-tokenizer family, which adds BOS.
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {
namespace {

const gguf::Value& require_array(const gguf::File& f, const char* key) {
  const gguf::Value* v = f.find(key);
  if (v == nullptr) throw kiln::Error(f.name() + ": missing " + key);
  if (!v->is_array()) throw kiln::Error(f.name() + ": " + key + " is not an array");
  return *v;
}

int32_t token_id_or(const gguf::File& f, const char* key, int32_t fallback, size_t n) {
  const gguf::Value* v = f.find(key);
  if (v == nullptr) return fallback >= 0 && static_cast<size_t>(fallback) < n ? fallback : -1;
  const int64_t id = v->as_int();
  // llama.cpp writes -1 (or UINT32_MAX) for "no such token"; treat both as none.
  if (id < 0 || id == 0xffffffffLL) return -1;
  if (static_cast<uint64_t>(id) >= n)
    throw kiln::Error(f.name() + ": " + key + " = " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(n) + " tokens");
  return static_cast<int32_t>(id);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const gguf::File& f) {
  VocabSpec spec;
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "llama") spec.algorithm = Algorithm::SentencePiece;
  else if (model == "gpt2") spec.algorithm = Algorithm::ByteLevelBpe;
  else if (model.empty()) throw kiln::Error(f.name() + ": missing tokenizer.ggml.model");
  else throw kiln::Error(f.name() + ": unsupported tokenizer.ggml.model \"" + model + "\" (supported: llama, gpt2)");
  const bool spm = spec.algorithm == Algorithm::SentencePiece;

  const gguf::Value& tokens = require_array(f, "tokenizer.ggml.tokens");
  const auto& items = tokens.as_array();
  spec.tokens.reserve(items.size());
  for (const gguf::Value& t : items) spec.tokens.push_back(t.as_string());
  const size_t n = spec.tokens.size();

  if (const gguf::Value* scores = f.find("tokenizer.ggml.scores")) {
    if (!scores->is_array()) throw kiln::Error(f.name() + ": tokenizer.ggml.scores is not an array");
    spec.scores.reserve(n);
    for (const gguf::Value& s : scores->as_array()) spec.scores.push_back(static_cast<float>(s.as_float()));
  }
  if (const gguf::Value* types = f.find("tokenizer.ggml.token_type")) {
    if (!types->is_array()) throw kiln::Error(f.name() + ": tokenizer.ggml.token_type is not an array");
    spec.types.reserve(n);
    for (const gguf::Value& t : types->as_array()) spec.types.push_back(static_cast<TokenType>(t.as_int()));
  }
  if (!spm) {
    for (const gguf::Value& m : require_array(f, "tokenizer.ggml.merges").as_array())
      spec.merges.push_back(m.as_string());
    spec.pre = f.get_string("tokenizer.ggml.pre", "default");
  }

  spec.bos = token_id_or(f, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n);
  spec.eos = token_id_or(f, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n);
  spec.eot = token_id_or(f, "tokenizer.ggml.eot_token_id", -1, n);
  spec.eom = token_id_or(f, "tokenizer.ggml.eom_token_id", -1, n);
  spec.unk = token_id_or(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
  spec.pad = token_id_or(f, "tokenizer.ggml.padding_token_id", -1, n);

  const bool default_bos = spm || pre_tokenizer_info(spec.pre).default_add_bos;
  spec.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", default_bos);
  spec.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  spec.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", spm);
  return from_spec(std::move(spec));
}

}  // namespace kiln::tok
