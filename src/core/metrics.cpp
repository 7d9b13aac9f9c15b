#include "core/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace kiln::metrics {
namespace {

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  if (!head(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

bool valid_label_name(std::string_view s) {
  if (s.empty()) return false;
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!head(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

std::string_view type_name(int type) {
  switch (type) {
    case 0: return "counter";
    case 1: return "gauge";
    default: return "histogram";
  }
}

// Appends {a="x",b="y"} (plus an optional le="..." last), or nothing when
// there are no labels at all.
void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

}  // namespace

// ---- values and escaping ----

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Go's strconv.FormatFloat(v, 'g', -1, 64): shortest round-trip digits,
  // exponent form when the decimal exponent is < -4 or >= 6 (the threshold
  // it uses for shortest output), else plain decimal.
  char buf[64];
  auto sci = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string_view s(buf, size_t(sci.ptr - buf));
  const size_t e = s.find('e');
  const int exponent = std::atoi(std::string(s.substr(e + 1)).c_str());
  if (exponent < -4 || exponent >= 6) return std::string(s);
  auto fixed = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, fixed.ptr);
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// ---- histogram ----

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]))
      throw Error("histogram bucket bound " + std::to_string(i) + " is not finite (+Inf is implicit)");
    if (i && !(bounds_[i] > bounds_[i - 1]))
      throw Error("histogram bucket bounds must increase strictly: " + format_value(bounds_[i - 1]) + " then " +
                  format_value(bounds_[i]));
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::observe(double value) noexcept {
  // lower_bound: the first bound >= value, since a bucket includes its bound.
  size_t i = std::isnan(value) ? bounds_.size()
                               : size_t(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;  // the +Inf bucket, so _count always equals it
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1)
    throw Error("exponential_buckets needs start > 0, factor > 1 and count >= 1");
  std::vector<double> b(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) b[size_t(i)] = i ? b[size_t(i) - 1] * factor : start;
  return b;
}

std::vector<double> linear_buckets(double start, double width, int count) {
  if (!(width > 0) || count < 1) throw Error("linear_buckets needs width > 0 and count >= 1");
  std::vector<double> b(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) b[size_t(i)] = start + width * i;
  return b;
}

// ---- registry ----

struct Registry::Family {
  std::string name;
  std::string help;
  Type type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histograms only
  struct Series {
    std::vector<std::string> label_values;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  std::vector<Series> series;  // registration order
  std::map<std::vector<std::string>, size_t> index;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(std::string_view name, std::string_view help, Type type, const Labels& labels,
                                   std::span<const double> bounds) {
  const std::string what = std::string(type_name(int(type))) + " '" + std::string(name) + "'";
  if (!valid_metric_name(name)) throw Error("metric name '" + std::string(name) + "' is not [a-zA-Z_:][a-zA-Z0-9_:]*");
  for (const auto& [label, value] : labels) {
    if (!valid_label_name(label))
      throw Error(what + ": label name '" + label + "' is not [a-zA-Z_][a-zA-Z0-9_]*");
    if (label.starts_with("__")) throw Error(what + ": label names starting with __ are reserved");
    if (type == Type::histogram && label == "le") throw Error(what + ": 'le' is the histogram bucket label");
  }
  for (size_t i = 0; i < labels.size(); ++i)
    for (size_t j = i + 1; j < labels.size(); ++j)
      if (labels[i].first == labels[j].first) throw Error(what + ": label '" + labels[i].first + "' given twice");

  if (auto it = by_name_.find(name); it != by_name_.end()) {
    Family& f = *it->second;
    if (f.type != type)
      throw Error(what + " is already registered as a " + std::string(type_name(int(f.type))));
    if (f.help != help) throw Error(what + " is already registered with different help text");
    if (type == Type::histogram && !std::equal(f.bounds.begin(), f.bounds.end(), bounds.begin(), bounds.end()))
      throw Error(what + " is already registered with different bucket bounds");
    return f;
  }
  // Sample names this family will write; none may belong to another family.
  std::vector<std::string> samples = {std::string(name)};
  if (type == Type::histogram)
    for (const char* suffix : {"_bucket", "_sum", "_count"}) samples.push_back(std::string(name) + suffix);
  for (const auto& s : samples) {
    if (auto it = series_names_.find(s); it != series_names_.end())
      throw Error(what + " would write samples named '" + s + "', already written by '" + it->second + "'");
  }
  auto f = std::make_unique<Family>();
  f->name = name;
  f->help = help;
  f->type = type;
  for (const auto& [label, value] : labels) f->label_names.push_back(label);
  f->bounds.assign(bounds.begin(), bounds.end());
  for (const auto& s : samples) series_names_.emplace(s, f->name);
  by_name_.emplace(f->name, f.get());
  families_.push_back(std::move(f));
  return *families_.back();
}

std::vector<std::string> Registry::ordered_values(const Family& f, const Labels& labels) {
  auto mismatch = [&] {
    std::string expected;
    for (const auto& n : f.label_names) expected += (expected.empty() ? "" : ", ") + n;
    return Error("metric '" + f.name + "' has labels {" + expected + "}; every series must give exactly those");
  };
  if (labels.size() != f.label_names.size()) throw mismatch();
  std::vector<std::string> values(f.label_names.size());
  for (size_t i = 0; i < f.label_names.size(); ++i) {
    auto it = std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == f.label_names[i]; });
    if (it == labels.end()) throw mismatch();
    values[i] = it->second;
  }
  return values;
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, Type::counter, labels, {});
  auto values = ordered_values(f, labels);
  if (auto it = f.index.find(values); it != f.index.end()) return *f.series[it->second].counter;
  f.index.emplace(values, f.series.size());
  f.series.push_back({std::move(values), std::make_unique<Counter>(), nullptr, nullptr});
  return *f.series.back().counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Family& f = family(name, help, Type::gauge, labels, {});
  auto values = ordered_values(f, labels);
  if (auto it = f.index.find(values); it != f.index.end()) return *f.series[it->second].gauge;
  f.index.emplace(values, f.series.size());
  f.series.push_back({std::move(values), nullptr, std::make_unique<Gauge>(), nullptr});
  return *f.series.back().gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                               const Labels& labels) {
  std::lock_guard lock(mutex_);
  // Validate the bounds before the family records them.
  auto fresh = std::make_unique<Histogram>(std::vector<double>(bounds.begin(), bounds.end()));
  Family& f = family(name, help, Type::histogram, labels, bounds);
  auto values = ordered_values(f, labels);
  if (auto it = f.index.find(values); it != f.index.end()) return *f.series[it->second].histogram;
  f.index.emplace(values, f.series.size());
  f.series.push_back({std::move(values), nullptr, nullptr, std::move(fresh)});
  return *f.series.back().histogram;
}

std::string Registry::render() const {
  std::string out;
  render_to(out);
  return out;
}

void Registry::render_to(std::string& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& fp : families_) {
    const Family& f = *fp;
    if (f.series.empty()) continue;
    if (!f.help.empty()) {
      out += "# HELP " + f.name + ' ';
      out += escape_help(f.help);
      out += '\n';
    }
    out += "# TYPE " + f.name + ' ';
    out += type_name(int(f.type));
    out += '\n';
    for (const auto& s : f.series) {
      switch (f.type) {
        case Type::counter:
          out += f.name;
          append_labels(out, f.label_names, s.label_values);
          out += ' ' + std::to_string(s.counter->value()) + '\n';
          break;
        case Type::gauge:
          out += f.name;
          append_labels(out, f.label_names, s.label_values);
          out += ' ' + format_value(s.gauge->value()) + '\n';
          break;
        case Type::histogram: {
          const auto snap = s.histogram->snapshot();
          for (size_t i = 0; i < snap.cumulative.size(); ++i) {
            const std::string le = i < f.bounds.size() ? format_value(f.bounds[i]) : "+Inf";
            out += f.name + "_bucket";
            append_labels(out, f.label_names, s.label_values, le);
            out += ' ' + std::to_string(snap.cumulative[i]) + '\n';
          }
          out += f.name + "_sum";
          append_labels(out, f.label_names, s.label_values);
          out += ' ' + format_value(snap.sum) + '\n';
          out += f.name + "_count";
          append_labels(out, f.label_names, s.label_values);
          out += ' ' + std::to_string(snap.count) + '\n';
          break;
        }
      }
    }
  }
}

}  // namespace kiln::metrics
