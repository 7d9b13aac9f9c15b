#include "core/arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kiln::runtime {
namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

TEST(Arena, AlignsEveryAllocationTo64BytesByDefault) {
  Arena arena(1 << 16);
  for (size_t bytes : {1, 3, 63, 64, 65, 100, 1000}) {
    void* p = arena.allocate(bytes);
    EXPECT_EQ(addr(p) % 64, 0u) << bytes;
    EXPECT_TRUE(arena.owns(p));
    std::memset(p, 0xab, bytes);  // the memory is writable
  }
}

TEST(Arena, HonoursLargerAndSmallerAlignments) {
  Arena arena(1 << 16);
  arena.allocate(1, 1);
  void* page = arena.allocate(10, 4096);
  EXPECT_EQ(addr(page) % 4096, 0u);
  void* a = arena.allocate(1, 1);
  void* b = arena.allocate(1, 1);
  EXPECT_EQ(addr(b), addr(a) + 1);  // byte alignment packs tightly
  EXPECT_THROW(arena.allocate(8, 3), Error);
  EXPECT_THROW(arena.allocate(8, 0), Error);
}

TEST(Arena, TypedArraysRespectTheirOwnAlignment) {
  Arena arena(4096);
  arena.allocate(1, 1);
  auto xs = arena.allocate_array<double>(10, 1);
  EXPECT_EQ(addr(xs.data()) % alignof(double), 0u);
  EXPECT_EQ(xs.size(), 10u);
  EXPECT_THROW(arena.allocate_array<double>(SIZE_MAX / 4), ArenaExhausted);
}

TEST(Arena, FullArenaThrowsAClearErrorAndStaysUsable) {
  Arena arena(1000, "activations");
  arena.allocate(600);
  const size_t used = arena.used();
  try {
    arena.allocate(500);
    FAIL() << "expected ArenaExhausted";
  } catch (const ArenaExhausted& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("activations"), std::string::npos) << msg;
    EXPECT_NE(msg.find("500 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("of 1000 bytes"), std::string::npos) << msg;
    EXPECT_EQ(e.requested, 500u);
    EXPECT_EQ(e.available, 400u);
  }
  EXPECT_EQ(arena.used(), used);  // a failed request changes nothing
  EXPECT_NO_THROW(arena.allocate(300));
}

TEST(Arena, ExactFitSucceedsAndOneMoreByteFails) {
  Arena arena(256);
  arena.allocate(200);
  EXPECT_NO_THROW(arena.allocate(56, 8));  // 200 is 8-aligned: exactly the rest
  EXPECT_EQ(arena.available(), 0u);
  EXPECT_THROW(arena.allocate(1, 1), ArenaExhausted);
  EXPECT_NO_THROW(arena.allocate(0, 1));
}

TEST(Arena, PaddingCountsAgainstCapacity) {
  Arena arena(128);
  arena.allocate(1);
  // 127 bytes are free, but the next 64-aligned address leaves only 64.
  EXPECT_THROW(arena.allocate(100), ArenaExhausted);
  EXPECT_NO_THROW(arena.allocate(64));
}

TEST(Arena, MarkAndResetReuseTheSameMemory) {
  Arena arena(1 << 12);
  arena.allocate(100);
  const auto m = arena.mark();
  void* first = arena.allocate(500);
  arena.allocate(700);
  arena.reset(m);
  EXPECT_EQ(arena.used(), m.offset);
  EXPECT_EQ(arena.allocate(500), first);
  arena.reset();
  EXPECT_EQ(arena.used(), 0u);
}

TEST(Arena, ResetToAMarkAheadOfThePositionIsAnError) {
  Arena arena(1 << 12);
  arena.allocate(100);
  const auto later = arena.mark();
  arena.reset();
  EXPECT_THROW(arena.reset(later), Error);
}

TEST(Arena, ScopeRestoresPositionEvenOnException) {
  Arena arena(1 << 12);
  arena.allocate(10);
  const size_t before = arena.used();
  {
    ArenaScope scope(arena);
    arena.allocate(1000);
  }
  EXPECT_EQ(arena.used(), before);
  try {
    ArenaScope scope(arena);
    arena.allocate(1000);
    arena.allocate(1 << 20);  // throws
  } catch (const ArenaExhausted&) {
  }
  EXPECT_EQ(arena.used(), before);
}

TEST(Arena, HighWaterMarkRemembersThePeak) {
  Arena arena(1 << 16);
  for (int step = 0; step < 3; ++step) {
    ArenaScope scope(arena);
    arena.allocate(step == 1 ? 5000 : 1000, 1);
  }
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(arena.high_water(), 5000u);
  EXPECT_EQ(arena.allocation_count(), 3u);
  arena.reset_high_water();
  EXPECT_EQ(arena.high_water(), 0u);
  arena.allocate(10, 1);
  EXPECT_EQ(arena.high_water(), 10u);
}

TEST(Arena, ZeroCapacityArenaRefusesAnyBytes) {
  Arena empty(0, "empty");
  EXPECT_EQ(empty.capacity(), 0u);
  EXPECT_NO_THROW(empty.allocate(0));
  EXPECT_THROW(empty.allocate(1), ArenaExhausted);
}

TEST(Arena, MoveTransfersTheBlock) {
  Arena a(4096, "a", /*prefault=*/true);
  void* p = a.allocate(100);
  Arena b(std::move(a));
  EXPECT_TRUE(b.owns(p));
  EXPECT_EQ(b.used(), 100u);
  EXPECT_EQ(b.name(), "a");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT: moved-from state is specified
  Arena c(16);
  c = std::move(b);
  EXPECT_TRUE(c.owns(p));
  EXPECT_EQ(c.capacity(), 4096u);
}

TEST(Arena, LargeBlocksAreUsable) {
  Arena arena(size_t(64) << 20, "big");  // lazily committed: cheap to reserve
  auto xs = arena.allocate_array<uint8_t>(size_t(32) << 20);
  xs[0] = 1;
  xs[xs.size() - 1] = 2;
  EXPECT_EQ(xs[0] + xs[xs.size() - 1], 3);
}

}  // namespace
}  // namespace kiln::runtime
