#pragma once
// A read-only hash index from byte strings to token ids (open addressing,
// linear probing). Keys are views into storage the owner keeps alive; a
// 262k-entry vocabulary indexes in a few milliseconds, which matters because
// every model load builds several of these.
#include <cstdint>
#include <string_view>
#include <vector>

namespace kiln::tok {

class TextIndex {
 public:
  void reserve(size_t n);
  // Keeps the first id inserted for a key (vocabularies with duplicate texts
  // resolve to the lowest id, as llama.cpp and HF do).
  void insert(std::string_view key, int32_t id);
  int32_t find(std::string_view key) const;  // -1 if absent
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* data = nullptr;
    uint32_t size = 0;
    int32_t id = -1;  // -1: empty
  };
  void grow();
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

// A hash map from a pair of token ids to (rank, merged id) for byte-level BPE.
class PairIndex {
 public:
  struct Entry {
    int32_t rank;
    int32_t result;
  };
  void reserve(size_t n);
  // Keeps the first (best-ranked) entry for a pair.
  void insert(int32_t left, int32_t right, Entry entry);
  const Entry* find(int32_t left, int32_t right) const;

 private:
  struct Slot {
    uint64_t key = ~uint64_t{0};  // empty
    Entry entry{};
  };
  void grow();
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

}  // namespace kiln::tok
