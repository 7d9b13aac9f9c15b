// Token ids back to text: whole sequences (decode) and as they are generated
// (StreamDecoder). Both replace bytes that form no character with U+FFFD, one
// per maximal invalid subpart, so streaming and whole decoding agree.
#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace kiln::tok {
namespace {

const std::string_view piece_checked(const Tokenizer::Impl& v, int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= v.size())
    throw kiln::Error("cannot decode token id " + std::to_string(id) + ": the vocabulary has " +
                      std::to_string(v.size()) + " tokens");
  return v.piece(id);
}

}  // namespace

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& v = *impl_;
  std::string bytes;
  for (int32_t id : ids) {
    const std::string_view p = piece_checked(v, id);
    if (skip_special && v.is_control(id)) continue;
    bytes.append(p);
  }
  // SentencePiece's dummy prefix: HF's Strip decoder removes one leading space.
  std::string_view view(bytes);
  if (v.add_space_prefix && !view.empty() && view[0] == ' ') view.remove_prefix(1);
  std::string out;
  out.reserve(view.size());
  utf8::append_lossy(out, view);
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : impl_(tokenizer.impl_), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  const Tokenizer::Impl& v = *impl_;
  const std::string_view p = piece_checked(v, id);
  if (skip_special_ && v.is_control(id)) return {};
  pending_.append(p);
  std::string_view view(pending_);
  if (at_start_ && !view.empty()) {
    at_start_ = false;
    if (v.add_space_prefix && view[0] == ' ') view.remove_prefix(1);
  }
  // Emit everything up to a trailing sequence that the next token could
  // still complete; bytes that can never become a character are replaced now.
  std::string out;
  size_t i = 0;
  while (i < view.size()) {
    const std::string_view rest = view.substr(i);
    if (static_cast<unsigned char>(rest[0]) < 0x80) {
      out.push_back(rest[0]);
      ++i;
      continue;
    }
    const size_t n = utf8::valid_sequence_length(rest);
    if (n > 0) {
      out.append(rest.substr(0, n));
      i += n;
      continue;
    }
    bool could_complete = false;
    const size_t bad = utf8::invalid_prefix_length(rest, could_complete);
    if (could_complete) break;  // wait for more bytes
    out.append(utf8::kReplacementChar);
    i += bad;
  }
  pending_.erase(0, static_cast<size_t>(view.data() - pending_.data()) + i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  utf8::append_lossy(out, pending_);
  pending_.clear();
  at_start_ = true;
  return out;
}

}  // namespace kiln::tok
