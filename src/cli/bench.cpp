// `kiln bench MODEL|FILE.gguf [-p 512] [-n 128] [-r 5] [-t THREADS] [--parallel 1,32] [--kv-type f16|q8_0]
//  [--backend cpu|cuda] [-o table|json]` (the backend defaults to $KILN_BACKEND, else the GPU when one is
//  visible, as llama-bench offloads every layer):
// prompt-processing and generation speed, measured and printed as
// llama-bench does, so the two can be compared line by line.
//
//   ppP: P random vocabulary tokens prefilled into an empty sequence in one
//        forward step (batch = P); tokens/s = P / time.
//   tgN: N decode steps of one token each after a one-token prompt (the
//        prompt is not timed); tokens/s = N / time.
//   tgNxS (--parallel S > 1): S sequences decoded together, N batched steps
//        of one token per sequence, logits for every sequence (what the
//        server's scheduler runs with S streams); tokens/s = N * S / time.
// Each test runs once untimed (warm-up: page faults, arena growth), then r
// timed repetitions; the table shows the mean tokens/s ± the sample standard
// deviation, the JSON every sample. Comma-separated values (-p 128,512)
// make one test each, as in llama-bench.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "backend/registry.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "kv/kv_cache.h"
#include "store/humanize.h"
#include "store/model_info.h"
#include "store/model_view.h"

namespace kiln::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::vector<std::string> prompt = {"512"};
  std::vector<std::string> gen = {"128"};
  std::vector<std::string> threads;
  std::vector<std::string> parallel = {"1"};
  int reps = 5;
  std::string kv_type = "f16";
  std::string backend;  // empty: $KILN_BACKEND, else backend::default_backend()
  std::string output = "table";
};

// What the table and JSON call the backend, as llama-bench does ("CPU", "CUDA").
std::string backend_label(const std::string& name) {
  std::string s = name;
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct TestResult {
  std::string name;  // "pp512", "tg128"
  int threads = 0;
  int n_prompt = 0, n_gen = 0;
  std::vector<int64_t> samples_ns;
};

// "512,1024" (also given as repeated flags) -> {512, 1024}.
std::vector<int> parse_counts(const std::vector<std::string>& values, const char* flag, int min) {
  std::vector<int> out;
  for (const std::string& v : values) {
    std::stringstream ss(v);
    for (std::string item; std::getline(ss, item, ',');) {
      size_t used = 0;
      int n = -1;
      try {
        n = std::stoi(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != item.size() || item.empty() || n < min)
        throw Error(std::string(flag) + " takes integers >= " + std::to_string(min) + " separated by commas, got '" +
                    item + "'");
      out.push_back(n);
    }
  }
  return out;
}

std::filesystem::path resolve_weights(const std::string& target) {
  namespace fs = std::filesystem;
  store::ModelStore models(store::ModelStore::default_root());
  std::optional<store::ModelName> stored;
  if (store::ModelName::is_valid(target)) stored = models.find(store::ModelName::parse(target));
  std::error_code ec;
  if (stored) return store::view_stored_model(models, *stored).weights;
  if (fs::is_regular_file(target, ec)) return fs::absolute(target);
  if (store::ModelName::is_valid(target))
    throw Error("model '" + store::ModelName::parse(target).display() + "' not found");
  throw Error("no such file or model: " + target);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Ordinary vocabulary tokens (no control, byte or unused ones), so that a
// random prompt is one a tokenizer could have produced.
std::vector<int32_t> normal_tokens(const tok::Tokenizer& tk) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < tk.size(); ++i)
    if (tk.type(int32_t(i)) == tok::TokenType::Normal) ids.push_back(int32_t(i));
  if (ids.empty())
    for (size_t i = 0; i < tk.size(); ++i) ids.push_back(int32_t(i));
  return ids;
}

class Runner {
 public:
  Runner(engine::Engine& e, uint32_t seed) : e_(e), pool_(normal_tokens(e.tokenizer())), rng_(seed) {}

  int64_t prompt_ns(int n) {
    std::vector<int32_t> tokens = random_tokens(size_t(n));
    const kv::SeqId seq = e_.new_sequence();
    const int64_t t0 = now_ns();
    e_.prefill(seq, tokens);
    const int64_t t = now_ns() - t0;
    e_.free_sequence(seq);
    return t;
  }

  int64_t gen_ns(int n) {
    const tok::Tokenizer& tk = e_.tokenizer();
    const int32_t first = tk.bos() >= 0 ? tk.bos() : random_tokens(1)[0];
    const std::vector<int32_t> tokens = random_tokens(size_t(n));
    const kv::SeqId seq = e_.new_sequence();
    e_.prefill(seq, std::span<const int32_t>(&first, 1));
    const int64_t t0 = now_ns();
    for (int i = 0; i < n; ++i) e_.decode(seq, tokens[size_t(i)]);
    const int64_t t = now_ns() - t0;
    e_.free_sequence(seq);
    return t;
  }

  // n batched steps over `streams` sequences, one token each per step.
  int64_t gen_parallel_ns(int n, int streams) {
    const tok::Tokenizer& tk = e_.tokenizer();
    const int32_t first = tk.bos() >= 0 ? tk.bos() : random_tokens(1)[0];
    const std::vector<int32_t> tokens = random_tokens(size_t(n) * size_t(streams));
    std::vector<kv::SeqId> seqs;
    for (int s = 0; s < streams; ++s) {
      seqs.push_back(e_.new_sequence());
      e_.prefill(seqs.back(), std::span<const int32_t>(&first, 1));
    }
    std::vector<engine::BatchItem> items(static_cast<size_t>(streams));
    const int64_t t0 = now_ns();
    for (int i = 0; i < n; ++i) {
      for (int s = 0; s < streams; ++s)
        items[size_t(s)] = {seqs[size_t(s)], std::span<const int32_t>(&tokens[size_t(i) * size_t(streams) + size_t(s)], 1),
                            true};
      e_.step(items);
    }
    const int64_t t = now_ns() - t0;
    for (kv::SeqId seq : seqs) e_.free_sequence(seq);
    return t;
  }

 private:
  std::vector<int32_t> random_tokens(size_t n) {
    std::uniform_int_distribution<size_t> pick(0, pool_.size() - 1);
    std::vector<int32_t> out(n);
    for (int32_t& t : out) t = pool_[pick(rng_)];
    return out;
  }

  engine::Engine& e_;
  std::vector<int32_t> pool_;
  std::mt19937 rng_;
};

struct Stats {
  double avg_ns = 0, stddev_ns = 0, avg_ts = 0, stddev_ts = 0;
  std::vector<double> samples_ts;
};

// Mean and sample standard deviation (n - 1), as llama-bench reports them.
Stats stats_of(const TestResult& r) {
  Stats s;
  const int tokens = r.n_prompt + r.n_gen;
  auto mean_sd = [](const std::vector<double>& v, double& mean, double& sd) {
    mean = 0;
    for (double x : v) mean += x;
    mean /= double(v.size());
    double ss = 0;
    for (double x : v) ss += (x - mean) * (x - mean);
    sd = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0.0;
  };
  std::vector<double> ns(r.samples_ns.begin(), r.samples_ns.end());
  for (int64_t x : r.samples_ns) s.samples_ts.push_back(x > 0 ? double(tokens) * 1e9 / double(x) : 0.0);
  mean_sd(ns, s.avg_ns, s.stddev_ns);
  mean_sd(s.samples_ts, s.avg_ts, s.stddev_ts);
  return s;
}

std::string fmt(const char* f, double a, double b = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

std::string size_text(uint64_t bytes) {
  const double gib = double(bytes) / (1024.0 * 1024 * 1024);
  return gib >= 1.0 ? fmt("%.2f GiB", gib) : fmt("%.2f MiB", double(bytes) / (1024.0 * 1024));
}

std::string params_text(uint64_t n) {
  return n >= 1000000000 ? fmt("%.2f B", double(n) / 1e9) : fmt("%.2f M", double(n) / 1e6);
}

void print_table(const std::vector<TestResult>& results, const store::ModelInfo& info, const std::string& model,
                 const std::string& backend) {
  std::vector<std::vector<std::string>> rows = {{"model", "size", "params", "backend", "threads", "test", "t/s"}};
  for (const TestResult& r : results) {
    const Stats s = stats_of(r);
    rows.push_back({model, size_text(info.tensor_bytes), params_text(info.parameter_count), backend_label(backend),
                    std::to_string(r.threads), r.name, fmt("%.2f ± %.2f", s.avg_ts, s.stddev_ts)});
  }
  // Markdown, numbers right-aligned, as llama-bench prints it. Widths count
  // code points ("±" is two bytes).
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  std::vector<size_t> w(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], width(row[c]));
  auto line = [&](const std::vector<std::string>& row, bool header) {
    std::string out = "|";
    for (size_t c = 0; c < row.size(); ++c) {
      const size_t pad = w[c] - width(row[c]);
      const bool left = c == 0 || c == 3 || header;
      out.append(" ");
      if (!left) out.append(pad, ' ');
      out.append(row[c]);
      if (left) out.append(pad, ' ');
      out.append(" |");
    }
    std::printf("%s\n", out.c_str());
  };
  line(rows[0], true);
  std::string sep = "|";
  for (size_t c = 0; c < w.size(); ++c)
    sep += (c == 0 || c == 3 ? " " + std::string(w[c], '-') + " |" : " " + std::string(w[c] - 1, '-') + ": |");
  std::printf("%s\n", sep.c_str());
  for (size_t i = 1; i < rows.size(); ++i) line(rows[i], false);
}

void print_json(const std::vector<TestResult>& results, const store::ModelInfo& info, const std::string& model,
                const std::filesystem::path& path, const std::string& kv_type, int batch, const std::string& backend) {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const TestResult& r : results) {
    const Stats s = stats_of(r);
    out.push_back({{"model_filename", path.string()},
                   {"model_type", model},
                   {"model_size", info.tensor_bytes},
                   {"model_n_params", info.parameter_count},
                   {"backends", backend_label(backend)},
                   {"n_threads", r.threads},
                   {"type_k", kv_type},
                   {"type_v", kv_type},
                   {"n_batch", batch},
                   {"n_prompt", r.n_prompt},
                   {"n_gen", r.n_gen},
                   {"test", r.name},
                   {"test_time", date},
                   {"avg_ns", int64_t(std::llround(s.avg_ns))},
                   {"stddev_ns", int64_t(std::llround(s.stddev_ns))},
                   {"avg_ts", s.avg_ts},
                   {"stddev_ts", s.stddev_ts},
                   {"samples_ns", r.samples_ns},
                   {"samples_ts", s.samples_ts}});
  }
  std::printf("%s\n", out.dump(2).c_str());
}

void run_bench(const BenchArgs& a) {
  const std::vector<int> pp = parse_counts(a.prompt, "-p", 0);
  const std::vector<int> tg = parse_counts(a.gen, "-n", 0);
  std::vector<int> threads = a.threads.empty() ? std::vector<int>{runtime::physical_core_count()}
                                               : parse_counts(a.threads, "-t", 1);
  const std::vector<int> parallel = parse_counts(a.parallel, "--parallel", 1);
  if (a.reps < 1) throw Error("-r must be at least 1, got " + std::to_string(a.reps));
  if (a.output != "table" && a.output != "json") throw Error("-o takes table or json, got '" + a.output + "'");
  kv::KvType kv_type;
  if (a.kv_type == "f16") kv_type = kv::KvType::F16;
  else if (a.kv_type == "q8_0") kv_type = kv::KvType::Q8_0;
  else throw Error("--kv-type takes f16 or q8_0, got '" + a.kv_type + "'");
  std::string backend = a.backend;
  if (backend.empty()) backend = std::getenv("KILN_BACKEND") ? std::getenv("KILN_BACKEND") : backend::default_backend();
  const std::vector<std::string> have = backend::available_backends();
  if (std::find(have.begin(), have.end(), backend) == have.end()) {
    std::string list;
    for (const std::string& b : have) list += (list.empty() ? "" : ", ") + b;
    throw Error("backend '" + backend + "' is not available here (available: " + list + ")");
  }

  const std::filesystem::path path = resolve_weights(a.model);
  const store::ModelInfo info = store::summarize(gguf::File::open(path));
  const std::string model = info.architecture + " " + store::human_number(info.parameter_count) + " " + info.file_type;
  int max_p = 1, max_n = 1;
  for (int p : pp) max_p = std::max(max_p, p);
  for (int n : tg) max_n = std::max(max_n, n);
  int max_s = 1;
  for (int s : parallel) max_s = std::max(max_s, s);

  std::vector<TestResult> results;
  for (int t : threads) {
    engine::EngineConfig cfg;
    cfg.threads = t;
    cfg.batch = std::max(max_p, max_s);
    cfg.context = std::max(max_p, max_n + 1);
    cfg.max_sequences = max_s;
    cfg.max_logit_rows = max_s;
    cfg.kv_type = kv_type;
    cfg.backend = backend;
    engine::Engine e(path, cfg);
    Runner runner(e, 1234);
    for (int p : pp) {
      if (p == 0) continue;
      TestResult r{"pp" + std::to_string(p), t, p, 0, {}};
      runner.prompt_ns(p);  // warm-up
      for (int i = 0; i < a.reps; ++i) r.samples_ns.push_back(runner.prompt_ns(p));
      results.push_back(std::move(r));
    }
    for (int n : tg) {
      if (n == 0) continue;
      for (int s : parallel) {
        if (s == 1) {
          TestResult r{"tg" + std::to_string(n), t, 0, n, {}};
          runner.gen_ns(std::min(n, 4));  // warm-up
          for (int i = 0; i < a.reps; ++i) r.samples_ns.push_back(runner.gen_ns(n));
          results.push_back(std::move(r));
          continue;
        }
        TestResult r{"tg" + std::to_string(n) + "x" + std::to_string(s), t, 0, n * s, {}};
        runner.gen_parallel_ns(std::min(n, 4), s);  // warm-up
        for (int i = 0; i < a.reps; ++i) r.samples_ns.push_back(runner.gen_parallel_ns(n, s));
        results.push_back(std::move(r));
      }
    }
  }
  if (a.output == "json") print_json(results, info, model, path, a.kv_type, max_p, backend);
  else print_table(results, info, model, backend);
}

}  // namespace

void add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Measure prompt processing and generation speed (like llama-bench)");
  cmd->add_option("model", args->model, "Model name or path to a .gguf file")->required();
  cmd->add_option("-p,--n-prompt", args->prompt, "Prompt tokens per pp test, comma-separated (0: none)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", args->gen, "Generated tokens per tg test, comma-separated (0: none)")
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", args->reps, "Timed repetitions of each test")->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads, comma-separated (default: physical cores)");
  cmd->add_option("--parallel", args->parallel,
                  "Sequences decoded together in tg tests, comma-separated (tgNxS: S streams, N steps)")
      ->capture_default_str();
  cmd->add_option("--kv-type", args->kv_type, "KV cache type: f16 or q8_0")->capture_default_str();
  cmd->add_option("--backend", args->backend, "Compute backend: cpu or cuda (default: $KILN_BACKEND, else the GPU when one is visible)");
  cmd->add_option("-o,--output", args->output, "Output: table (markdown) or json")->capture_default_str();
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace kiln::cli
