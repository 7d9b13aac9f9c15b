// What a metric update costs on a hot path, and what /metrics costs.
//
//   bench_core_metrics --benchmark_min_time=0.2
//
// counter_inc / gauge_set / histogram_observe   one update, one thread
// counter_inc_contended/N                       N threads hitting one counter
// render/S                                      rendering S labelled series
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "core/metrics.h"

namespace {

using namespace kiln;

void BM_CounterInc(benchmark::State& state) {
  metrics::Registry r;
  metrics::Counter& c = r.counter("ops_total", "Ops.");
  for (auto _ : state) c.inc();
  benchmark::DoNotOptimize(c.value());
}
BENCHMARK(BM_CounterInc)->Name("counter_inc");

void BM_GaugeSet(benchmark::State& state) {
  metrics::Registry r;
  metrics::Gauge& g = r.gauge("level", "Level.");
  double v = 0;
  for (auto _ : state) g.set(v += 1);
  benchmark::DoNotOptimize(g.value());
}
BENCHMARK(BM_GaugeSet)->Name("gauge_set");

void BM_HistogramObserve(benchmark::State& state) {
  metrics::Registry r;
  metrics::Histogram& h = r.histogram("lat_seconds", "Latency.", metrics::exponential_buckets(1e-4, 2, 20));
  double v = 1e-4;
  for (auto _ : state) {
    h.observe(v);
    v = v > 10 ? 1e-4 : v * 1.37;
  }
}
BENCHMARK(BM_HistogramObserve)->Name("histogram_observe");

// One registry for the contended case: Google Benchmark runs the body on
// every thread, so the counter is shared.
metrics::Registry g_shared_registry;
metrics::Counter& g_shared_counter = g_shared_registry.counter("shared_total", "Shared.");

void BM_CounterContended(benchmark::State& state) {
  for (auto _ : state) g_shared_counter.inc();
}
BENCHMARK(BM_CounterContended)->Name("counter_inc_contended")->Threads(2)->Threads(4)->UseRealTime();

void BM_Render(benchmark::State& state) {
  metrics::Registry r;
  const int series = int(state.range(0));
  const std::vector<double> bounds = metrics::exponential_buckets(1e-3, 4, 8);
  for (int i = 0; i < series; ++i) {
    metrics::Labels labels = {{"model", "model-" + std::to_string(i)}};
    r.counter("kiln_requests_total", "Requests.", labels).inc(uint64_t(i));
    r.histogram("kiln_request_seconds", "Request latency.", bounds, labels).observe(0.01 * i);
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    r.render_to(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * int64_t(out.size()));
}
BENCHMARK(BM_Render)->Name("render")->Arg(10)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
