#pragma once
// Metrics cheap enough to leave on in the hot path, rendered in the
// Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// Updating a metric is one relaxed atomic operation (a histogram: a short
// search over its fixed bucket bounds plus two atomics); nothing locks or
// allocates. Registering a metric (a name plus label values) takes a mutex and
// allocates, so callers register once and keep the returned reference, whose
// address is stable for the registry's lifetime.
//
// A Registry is an ordinary object, not a global: the server owns one and
// passes it by reference to whatever records metrics; tests make their own.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::metrics {

// Label name/value pairs. A family's label names are fixed by its first
// registration; later registrations may list them in any order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count (requests, tokens, errors).
class Counter {
 public:
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (models loaded, KV blocks free, queue depth).
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void inc() noexcept { add(1.0); }
  void dec() noexcept { add(-1.0); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed buckets (latencies, batch sizes). Bucket i
// counts values <= bounds[i] that exceed bounds[i-1]; a last, implicit bucket
// takes the rest (and NaN). Rendering makes them cumulative, as Prometheus
// expects.
class Histogram {
 public:
  // Bounds must be finite and strictly increasing (kiln::Error otherwise).
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // bounds().size() + 1 entries; the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  std::span<const double> bounds() const noexcept { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// Bucket bounds start, start*factor, ... (count values).
std::vector<double> exponential_buckets(double start, double factor, int count);
// Bucket bounds start, start+width, ... (count values).
std::vector<double> linear_buckets(double start, double width, int count);

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each returns the metric for (name, labels), creating it on first use.
  // kiln::Error when the name or a label name is invalid, when the name is
  // already used with another type, help text, label set or bucket layout,
  // or when it would clash with a histogram's _bucket/_sum/_count series.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                       const Labels& labels = {});

  // Every family in registration order, each series in registration order.
  std::string render() const;
  void render_to(std::string& out) const;

 private:
  enum class Type { counter, gauge, histogram };
  struct Family;
  Family& family(std::string_view name, std::string_view help, Type type, const Labels& labels,
                 std::span<const double> bounds);
  static std::vector<std::string> ordered_values(const Family& f, const Labels& labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*, std::less<>> by_name_;
  std::map<std::string, std::string, std::less<>> series_names_;  // sample name -> family name
};

// A sample value as Prometheus' Go client writes it (strconv 'g', shortest
// round-trip digits): 1, 0.25, 1e+06, 1.5e-05, +Inf, -Inf, NaN.
std::string format_value(double v);
// Escaping rules of the text format.
std::string escape_help(std::string_view text);         // \ and newline
std::string escape_label_value(std::string_view text);  // \ " and newline

}  // namespace kiln::metrics
