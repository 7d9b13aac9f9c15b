// Tokenizer: splits out added tokens, runs the vocabulary's algorithm on the
// text between them, adds BOS/EOS; plus the accessors.
#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/vocab.h"

namespace kiln::tok {

Tokenizer Tokenizer::from_spec(VocabSpec spec) { return Tokenizer(build_vocab(std::move(spec))); }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& v = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && v.add_bos && v.bos >= 0) out.push_back(v.bos);
  std::vector<Fragment> fragments;
  v.specials.partition(text, parse_special, fragments);
  for (const Fragment& f : fragments) {
    if (f.token >= 0) out.push_back(f.token);
    else if (v.algorithm == Algorithm::SentencePiece) spm_encode(v, f.text, f.offset == 0, out);
    else bpe_encode(v, f.text, out);
  }
  if (add_special && v.add_eos && v.eos >= 0) out.push_back(v.eos);
  return out;
}

std::string_view Tokenizer::piece(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->size())
    throw kiln::Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(impl_->size()) + " tokens");
  return impl_->piece(id);
}

std::string_view Tokenizer::token_text(int32_t id) const {
  piece(id);  // range check
  return impl_->text(id);
}

int32_t Tokenizer::token_id(std::string_view text) const { return impl_->by_text.find(text); }
size_t Tokenizer::size() const { return impl_->size(); }
Algorithm Tokenizer::algorithm() const { return impl_->algorithm; }
TokenType Tokenizer::type(int32_t id) const {
  piece(id);
  return impl_->types[id];
}
float Tokenizer::score(int32_t id) const {
  piece(id);
  return impl_->scores[id];
}
int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
int32_t Tokenizer::eot() const { return impl_->eot; }
int32_t Tokenizer::unk() const { return impl_->unk; }
int32_t Tokenizer::pad() const { return impl_->pad; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::add_space_prefix() const { return impl_->add_space_prefix; }
const std::string& Tokenizer::pre() const { return impl_->pre; }
bool Tokenizer::is_eog(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->size() && impl_->eog[id];
}
bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->size() && impl_->is_control(id);
}

}  // namespace kiln::tok
