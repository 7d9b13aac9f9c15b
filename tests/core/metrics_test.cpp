#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/alloc_counter.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace kiln::metrics {
namespace {

// The expected texts below are the examples of the Prometheus text format
// specification (prometheus.io/docs/instrumenting/exposition_formats,
// "Text format example"), without their timestamps and comment lines, which
// kiln does not write. Values follow Go's strconv.FormatFloat(v, 'g', -1, 64),
// as Prometheus' own client writes them: the spec's hand-written 1.458255915e9
// is 1.458255915e+09 there.

TEST(Metrics, RendersTheSpecCounterExample) {
  Registry r;
  const char* help = "The total number of HTTP requests.";
  r.counter("http_requests_total", help, {{"method", "post"}, {"code", "200"}}).inc(1027);
  // Label order in a later registration does not matter.
  r.counter("http_requests_total", help, {{"code", "400"}, {"method", "post"}}).inc(3);
  EXPECT_EQ(r.render(),
            "# HELP http_requests_total The total number of HTTP requests.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{method=\"post\",code=\"200\"} 1027\n"
            "http_requests_total{method=\"post\",code=\"400\"} 3\n");
}

TEST(Metrics, RendersTheSpecEscapingAndMinimalExamples) {
  Registry r;
  r.gauge("msdos_file_access_time_seconds", "",
          {{"path", "C:\\DIR\\FILE.TXT"}, {"error", "Cannot find file:\n\"FILE.TXT\""}})
      .set(1.458255915e9);
  r.gauge("metric_without_timestamp_and_labels", "").set(12.47);
  r.gauge("something_weird", "", {{"problem", "division by zero"}}).set(std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.render(),
            "# TYPE msdos_file_access_time_seconds gauge\n"
            "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
            "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e+09\n"
            "# TYPE metric_without_timestamp_and_labels gauge\n"
            "metric_without_timestamp_and_labels 12.47\n"
            "# TYPE something_weird gauge\n"
            "something_weird{problem=\"division by zero\"} +Inf\n");
}

TEST(Metrics, RendersTheSpecHistogramExample) {
  Registry r;
  const std::vector<double> bounds = {0.05, 0.1, 0.2, 0.5, 1};
  Histogram& h = r.histogram("http_request_duration_seconds", "A histogram of the request duration.", bounds);
  // Observations that land in each bucket with the spec's counts, using
  // binary fractions so that the sum is exact: 53423.
  auto observe_n = [&](int n, double v) {
    for (int i = 0; i < n; ++i) h.observe(v);
  };
  observe_n(24054, 0.03125);
  observe_n(9390, 0.0625);
  observe_n(66948, 0.125);
  observe_n(28997, 0.25);
  observe_n(4599, 1.0);  // a bound itself belongs to its bucket (le = "less or equal")
  observe_n(10331, 3.0);
  h.observe(874.6875);
  EXPECT_EQ(r.render(),
            "# HELP http_request_duration_seconds A histogram of the request duration.\n"
            "# TYPE http_request_duration_seconds histogram\n"
            "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
            "http_request_duration_seconds_bucket{le=\"0.1\"} 33444\n"
            "http_request_duration_seconds_bucket{le=\"0.2\"} 100392\n"
            "http_request_duration_seconds_bucket{le=\"0.5\"} 129389\n"
            "http_request_duration_seconds_bucket{le=\"1\"} 133988\n"
            "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
            "http_request_duration_seconds_sum 53423\n"
            "http_request_duration_seconds_count 144320\n");
}

TEST(Metrics, HistogramSeriesKeepTheirLabelsBeforeLe) {
  Registry r;
  const std::vector<double> bounds = {1, 2.5};
  r.histogram("kiln_batch_size", "Tokens per step.", bounds, {{"model", "qwen"}}).observe(2);
  r.histogram("kiln_batch_size", "Tokens per step.", bounds, {{"model", "gemma"}}).observe(7);
  EXPECT_EQ(r.render(),
            "# HELP kiln_batch_size Tokens per step.\n"
            "# TYPE kiln_batch_size histogram\n"
            "kiln_batch_size_bucket{model=\"qwen\",le=\"1\"} 0\n"
            "kiln_batch_size_bucket{model=\"qwen\",le=\"2.5\"} 1\n"
            "kiln_batch_size_bucket{model=\"qwen\",le=\"+Inf\"} 1\n"
            "kiln_batch_size_sum{model=\"qwen\"} 2\n"
            "kiln_batch_size_count{model=\"qwen\"} 1\n"
            "kiln_batch_size_bucket{model=\"gemma\",le=\"1\"} 0\n"
            "kiln_batch_size_bucket{model=\"gemma\",le=\"2.5\"} 0\n"
            "kiln_batch_size_bucket{model=\"gemma\",le=\"+Inf\"} 1\n"
            "kiln_batch_size_sum{model=\"gemma\"} 7\n"
            "kiln_batch_size_count{model=\"gemma\"} 1\n");
}

TEST(Metrics, HelpTextIsEscaped) {
  Registry r;
  r.counter("x_total", "line one\nback\\slash \"quoted\"").inc();
  EXPECT_EQ(r.render(),
            "# HELP x_total line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE x_total counter\n"
            "x_total 1\n");
}

TEST(Metrics, ValuesAreFormattedLikeGoStrconv) {
  // strconv.FormatFloat(v, 'g', -1, 64): exponent form below 1e-4 and from 1e6.
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(1), "1");
  EXPECT_EQ(format_value(-1), "-1");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_value(12.47), "12.47");
  EXPECT_EQ(format_value(999999), "999999");
  EXPECT_EQ(format_value(1e6), "1e+06");
  EXPECT_EQ(format_value(1234567), "1.234567e+06");
  EXPECT_EQ(format_value(0.0001), "0.0001");
  EXPECT_EQ(format_value(0.00001), "1e-05");
  EXPECT_EQ(format_value(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(format_value(1e100), "1e+100");
  EXPECT_EQ(format_value(5e-324), "5e-324");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, LabelValueEscaping) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_help("a\\b\"c\nd"), "a\\\\b\"c\\nd");
}

TEST(Metrics, GaugeGoesUpAndDown) {
  Registry r;
  Gauge& g = r.gauge("kiln_models_loaded", "Models in memory.");
  g.inc();
  g.inc();
  g.dec();
  g.add(0.5);
  EXPECT_EQ(g.value(), 1.5);
  g.set(-3);
  EXPECT_EQ(r.render(), "# HELP kiln_models_loaded Models in memory.\n# TYPE kiln_models_loaded gauge\n"
                        "kiln_models_loaded -3\n");
}

TEST(Metrics, SameNameAndLabelsGiveTheSameMetric) {
  Registry r;
  Counter& a = r.counter("req_total", "Requests.", {{"code", "200"}});
  Counter& b = r.counter("req_total", "Requests.", {{"code", "200"}});
  Counter& c = r.counter("req_total", "Requests.", {{"code", "500"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(Metrics, RegistrationErrorsNameTheProblem) {
  Registry r;
  r.counter("req_total", "Requests.", {{"code", "200"}});
  EXPECT_THROW(r.gauge("req_total", "Requests."), Error);                       // type clash
  EXPECT_THROW(r.counter("req_total", "Other help.", {{"code", "1"}}), Error);  // help clash
  EXPECT_THROW(r.counter("req_total", "Requests."), Error);                     // label set differs
  EXPECT_THROW(r.counter("req_total", "Requests.", {{"status", "1"}}), Error);
  EXPECT_THROW(r.counter("9lives", "x"), Error);
  EXPECT_THROW(r.counter("has-dash", "x"), Error);
  EXPECT_THROW(r.counter("ok_total", "x", {{"bad-label", "1"}}), Error);
  EXPECT_THROW(r.counter("ok_total", "x", {{"__reserved", "1"}}), Error);
  EXPECT_THROW(r.counter("ok_total", "x", {{"a", "1"}, {"a", "2"}}), Error);
  const std::vector<double> bounds = {1, 2};
  EXPECT_THROW(r.histogram("lat", "x", bounds, {{"le", "1"}}), Error);
  r.histogram("lat", "x", bounds);
  EXPECT_THROW(r.counter("lat_count", "x"), Error);  // would clash with the histogram's series
  const std::vector<double> other = {1, 3};
  EXPECT_THROW(r.histogram("lat", "x", other), Error);
  try {
    r.gauge("req_total", "Requests.");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("req_total"), std::string::npos) << e.what();
  }
}

TEST(Metrics, HistogramBoundsAreValidated) {
  EXPECT_THROW(Histogram({1, 1}), Error);
  EXPECT_THROW(Histogram({2, 1}), Error);
  EXPECT_THROW(Histogram({1, std::numeric_limits<double>::infinity()}), Error);
  EXPECT_THROW(Histogram({std::nan("")}), Error);
  EXPECT_NO_THROW(Histogram({}));  // only the +Inf bucket
}

TEST(Metrics, BucketHelpers) {
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(linear_buckets(0.5, 0.5, 3), (std::vector<double>{0.5, 1, 1.5}));
  EXPECT_THROW(exponential_buckets(0, 2, 3), Error);
  EXPECT_THROW(exponential_buckets(1, 1, 3), Error);
  EXPECT_THROW(linear_buckets(0, 0, 3), Error);
}

TEST(Metrics, NanObservationsGoToTheInfBucket) {
  Histogram h({1});
  h.observe(std::nan(""));
  h.observe(0.5);
  auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(s.count, 2u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(Metrics, EmptyRegistryRendersNothing) {
  Registry r;
  EXPECT_EQ(r.render(), "");
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = r.counter("ops_total", "Ops.");
  Gauge& g = r.gauge("level", "Level.");
  Histogram& h = r.histogram("lat", "Latency.", std::vector<double>{10, 100});
  runtime::ThreadPool pool(4);
  pool.run([&](int ith, int) {
    for (int i = 0; i < 20000; ++i) {
      c.inc();
      g.add(1);
      h.observe(double(i % 200));
    }
  });
  EXPECT_EQ(c.value(), 4u * 20000);
  EXPECT_EQ(g.value(), 4.0 * 20000);
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 4u * 20000);
  EXPECT_EQ(s.cumulative[0], 4u * 100 * 11);  // 0..10 of every 200
  EXPECT_EQ(s.sum, 4.0 * 100 * (199.0 * 200 / 2));
}

TEST(Metrics, UpdatesAllocateNothing) {
  Registry r;
  Counter& c = r.counter("ops_total", "Ops.", {{"kind", "a"}});
  Gauge& g = r.gauge("level", "Level.");
  Histogram& h = r.histogram("lat", "Latency.", exponential_buckets(0.001, 2, 16));
  runtime::AllocCounter counter;
  for (int i = 0; i < 1000; ++i) {
    c.inc();
    g.set(i);
    h.observe(i * 0.001);
  }
  EXPECT_EQ(counter.allocations(), 0u);
}

}  // namespace
}  // namespace kiln::metrics
