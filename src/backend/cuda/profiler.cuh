#pragma once
// Per-op GPU time, for finding where a step's time goes without a profiler:
// KILN_CUDA_PROFILE=1 makes the backend bracket each op with CUDA events and
// print, when it is destroyed, the total time and count per op kind (to
// stderr). Off by default: the events cost a little and nothing else changes.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace kiln::cuda {

class OpProfiler {
 public:
  explicit OpProfiler(cudaStream_t s) : stream_(s) {}
  ~OpProfiler() {
    collect();
    std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double all = 0;
    for (const auto& r : rows) all += r.second.ms;
    std::fprintf(stderr, "kiln cuda profile (GPU time per op kind, %.1f ms in all):\n", all);
    for (const auto& [name, t] : rows)
      std::fprintf(stderr, "  %-40s %10.3f ms %8ld calls %9.2f us/call %5.1f%%\n", name.c_str(), t.ms, t.calls,
                   1000.0 * t.ms / double(t.calls), all > 0 ? 100.0 * t.ms / all : 0.0);
    for (Pending& p : free_) {
      cudaEventDestroy(p.start);
      cudaEventDestroy(p.stop);
    }
  }
  // Starts timing an op; end() stops the most recent one.
  void begin(std::string name) {
    Pending p;
    if (!free_.empty()) {
      p = free_.back();
      free_.pop_back();
    } else {
      cudaEventCreate(&p.start);
      cudaEventCreate(&p.stop);
    }
    p.name = std::move(name);
    cudaEventRecord(p.start, stream_);
    pending_.push_back(std::move(p));
  }
  void end() { cudaEventRecord(pending_.back().stop, stream_); }
  // After the stream has been synchronized: adds the finished ops' times.
  void collect() {
    for (Pending& p : pending_) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, p.start, p.stop) == cudaSuccess) {
        Total& t = totals_[p.name];
        t.ms += ms;
        ++t.calls;
      }
      free_.push_back(std::move(p));
    }
    pending_.clear();
  }

 private:
  struct Pending {
    std::string name;
    cudaEvent_t start = nullptr, stop = nullptr;
  };
  struct Total {
    double ms = 0;
    long calls = 0;
  };
  cudaStream_t stream_;
  std::vector<Pending> pending_, free_;
  std::map<std::string, Total> totals_;
};

}  // namespace kiln::cuda
