// Time to first token of a long prompt sent again with a new question at the
// end (issue 6's coding-agent scenario), through engine::Engine with the KV
// disk tier: cold (nothing cached), with the prefix in RAM (second request
// in the same process) and from disk after a restart (run again with
// --phase disk: a new process, empty RAM, the same KV directory).
//
//   kv_tier_ttft MODEL --tokens 25000 --dir /tmp/kv --phase cold   # cold + RAM
//   kv_tier_ttft MODEL --tokens 25000 --dir /tmp/kv --phase disk   # after restart
//
// The prompt is kiln's own source code (src/**/*.{h,cpp}, sorted), tokenized
// and cut to --tokens: what a coding agent sends. --text FILE reads it from a
// file instead (a snapshot: the phases must see the same bytes while the
// sources change). The question differs per
// request. Time to first token = attach_prefix (restore) + prefill of the
// rest until the logits of the last prompt token exist.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "engine/engine.h"
#include "kv/kv_cache.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the whole process (all threads): on a shared machine the wall
// time depends on the other load, the CPU time much less.
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}
double last_cpu = 0;

std::string read_sources(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    if (e.path().extension() == ".cpp" || e.path().extension() == ".h") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    text += "// file: " + f.string() + "\n" + ss.str();
  }
  return text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double ttft(kiln::engine::Engine& engine, std::span<const int32_t> prompt, int64_t* reused) {
  const auto start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  const kiln::kv::SeqId seq = engine.new_sequence();
  const int64_t n = engine.cache().attach_prefix(seq, prompt, int64_t(prompt.size()) - 1);
  const std::span<const float> logits = engine.prefill(seq, prompt.subspan(size_t(n)));
  const int32_t first = kiln::engine::Engine::argmax(logits);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  last_cpu = process_cpu_seconds() - cpu_start;
  engine.free_sequence(seq);
  if (reused) *reused = n;
  (void)first;
  return seconds;
}

void print_stats(const kiln::kv::KvTierStats& s) {
  std::printf("  ram: blocks %llu bytes %llu hits %llu misses %llu evictions %llu\n",
              (unsigned long long)s.ram.blocks, (unsigned long long)s.ram.bytes, (unsigned long long)s.ram.hits,
              (unsigned long long)s.ram.misses, (unsigned long long)s.ram.evictions);
  std::printf(
      "  disk: blocks %llu bytes %llu hits %llu misses %llu evictions %llu restore %.3f s (%llu bytes) "
      "writes %llu (%llu bytes, %.3f s writer time) dropped %llu refused %llu corrupt %llu\n",
      (unsigned long long)s.disk.blocks, (unsigned long long)s.disk.bytes, (unsigned long long)s.disk.hits,
      (unsigned long long)s.disk.misses, (unsigned long long)s.disk.evictions, s.disk.restore_ns / 1e9,
      (unsigned long long)s.disk.restored_bytes, (unsigned long long)s.disk.writes,
      (unsigned long long)s.disk.write_bytes, s.disk.write_ns / 1e9, (unsigned long long)s.disk.writes_dropped,
      (unsigned long long)s.disk.writes_refused, (unsigned long long)s.disk.corrupt_removed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s MODEL [--tokens N] [--dir DIR] [--phase cold|disk] [--threads T] [--kv f16|q8_0] "
                 "[--budget BYTES] [--no-fsync] [--src DIR | --text FILE]\n",
                 argv[0]);
    return 2;
  }
  std::string text_file, model = argv[1], dir = "/tmp/kiln-kv-tier-bench", phase = "cold", kv = "f16", src = "src";
  int tokens = 25000, threads = 2;
  uint64_t budget = uint64_t(8) << 30;
  bool fsync = true;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::string(argv[++i]); };
    if (a == "--tokens") tokens = std::stoi(next());
    else if (a == "--dir") dir = next();
    else if (a == "--phase") phase = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--kv") kv = next();
    else if (a == "--budget") budget = std::stoull(next());
    else if (a == "--no-fsync") fsync = false;
    else if (a == "--src") src = next();
    else if (a == "--text") text_file = next();
  }
  try {
    kiln::engine::EngineConfig ec;
    ec.threads = threads;
    ec.context = tokens + 64;
    ec.kv_type = kv == "q8_0" ? kiln::kv::KvType::Q8_0 : kiln::kv::KvType::F16;
    const auto load_start = Clock::now();
    kiln::engine::Engine engine(model, ec);
    kiln::kv::DiskTierConfig tc;
    tc.directory = dir;
    tc.budget_bytes = budget;
    tc.fsync = fsync;
    engine.cache().enable_disk_tier(tc);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("load + disk index %.3f s (%llu entries on disk)\n",
                std::chrono::duration<double>(Clock::now() - load_start).count(),
                (unsigned long long)engine.cache().tier_stats().disk.blocks);

    std::vector<int32_t> context = engine.tokenizer().encode(text_file.empty() ? read_sources(src) : read_file(text_file), false, false);
    if (int64_t(context.size()) < tokens - 32) {
      std::fprintf(stderr, "only %zu tokens of source text\n", context.size());
      return 1;
    }
    context.resize(size_t(tokens - 32));
    auto with_question = [&](const char* q) {
      std::vector<int32_t> p = context;
      for (int32_t t : engine.tokenizer().encode(q, false, false)) p.push_back(t);
      return p;
    };
    int64_t reused = 0;
    if (phase == "cold") {
      const std::vector<int32_t> p1 = with_question("\nQuestion: what does the KV cache's block pool do?");
      const double cold = ttft(engine, p1, &reused);
      const double cold_cpu = last_cpu;
      std::printf("cold: %zu tokens, reused %lld, ttft %.3f s (%.3f CPU-s)\n", p1.size(), (long long)reused, cold,
                  cold_cpu);
      std::fflush(stdout);
      const std::vector<int32_t> p2 = with_question("\nQuestion: where is the chat template chosen?");
      const double ram = ttft(engine, p2, &reused);
      std::printf("ram hit: %zu tokens, reused %lld, ttft %.3f s (%.2f%% of cold), %.3f CPU-s (%.2f%% of cold)\n",
                  p2.size(), (long long)reused, ram, 100.0 * ram / cold, last_cpu, 100.0 * last_cpu / cold_cpu);
      const auto flush_start = Clock::now();
      engine.cache().flush_disk_tier();
      std::printf("waited %.3f s for the disk writer at the end\n",
                  std::chrono::duration<double>(Clock::now() - flush_start).count());
    } else {
      const std::vector<int32_t> p3 = with_question("\nQuestion: how are grammar states capped?");
      const double disk = ttft(engine, p3, &reused);
      std::printf("disk hit after restart: %zu tokens, reused %lld, ttft %.3f s, %.3f CPU-s\n", p3.size(),
                  (long long)reused, disk, last_cpu);
    }
    print_stats(engine.cache().tier_stats());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
