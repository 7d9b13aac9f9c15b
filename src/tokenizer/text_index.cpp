#include "tokenizer/text_index.h"

#include <cstring>
#include <functional>

namespace kiln::tok {
namespace {

size_t table_size_for(size_t n) {
  size_t size = 16;
  while (size < n * 2) size <<= 1;  // load factor <= 0.5
  return size;
}

uint64_t mix(uint64_t key) {  // splitmix64 finalizer
  key ^= key >> 30;
  key *= 0xbf58476d1ce4e5b9ULL;
  key ^= key >> 27;
  key *= 0x94d049bb133111ebULL;
  return key ^ (key >> 31);
}

}  // namespace

void TextIndex::reserve(size_t n) {
  if (table_size_for(n) <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(table_size_for(n), Slot{});
  count_ = 0;
  for (const Slot& s : old)
    if (s.id >= 0) insert(std::string_view(s.data, s.size), s.id);
}

void TextIndex::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

void TextIndex::insert(std::string_view key, int32_t id) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  const uint64_t h = std::hash<std::string_view>{}(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.id < 0) {
      s = Slot{h, key.data(), static_cast<uint32_t>(key.size()), id};
      ++count_;
      return;
    }
    if (s.hash == h && s.size == key.size() && std::memcmp(s.data, key.data(), key.size()) == 0)
      return;  // duplicate text: the first id wins
  }
}

int32_t TextIndex::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = std::hash<std::string_view>{}(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.hash == h && s.size == key.size() && std::memcmp(s.data, key.data(), key.size()) == 0)
      return s.id;
  }
}

void PairIndex::reserve(size_t n) {
  if (table_size_for(n) <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(table_size_for(n), Slot{});
  count_ = 0;
  for (const Slot& s : old)
    if (s.key != ~uint64_t{0})
      insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xffffffffu), s.entry);
}

void PairIndex::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

void PairIndex::insert(int32_t left, int32_t right, Entry entry) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.key == ~uint64_t{0}) {
      s = Slot{key, entry};
      ++count_;
      return;
    }
    if (s.key == key) return;
  }
}

const PairIndex::Entry* PairIndex::find(int32_t left, int32_t right) const {
  if (slots_.empty()) return nullptr;
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key == ~uint64_t{0}) return nullptr;
    if (s.key == key) return &s.entry;
  }
}

}  // namespace kiln::tok
