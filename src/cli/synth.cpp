// kiln synth PRESET --type q4_K_M [-o FILE] [--seed N]: writes a random-weight
// GGUF with a real model's shapes, for benchmarks and load tests.
// kiln synth --list: the presets, their parameter counts and file sizes.
#include <chrono>
#include <filesystem>
#include <memory>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/presets.h"
#include "gguf/quant_mix.h"
#include "gguf/synthetic.h"

namespace kiln::cli {
namespace {

struct SynthOptions {
  std::string preset;
  std::string type = "q4_K_M";
  std::string output;
  uint64_t seed = 0;
  int64_t layers = 0;
  bool list = false;
  bool plan = false;
};

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1 << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  return buf;
}

void print_list() {
  using namespace kiln::gguf;
  const FileType shown[] = {FileType::MOSTLY_F16, FileType::MOSTLY_Q8_0, FileType::MOSTLY_Q6_K,
                            FileType::MOSTLY_Q5_K_M, FileType::MOSTLY_Q4_K_M};
  std::printf("%-14s %-7s %6s %13s", "PRESET", "ARCH", "LAYERS", "PARAMETERS");
  for (FileType ft : shown) std::printf(" %12s", std::string(file_type_name(ft)).c_str());
  std::printf("\n");
  for (const Preset& p : all_presets()) {
    std::printf("%-14s %-7s %6lld %13lld", std::string(p.name).c_str(), std::string(p.arch).c_str(),
                static_cast<long long>(p.n_layer), static_cast<long long>(preset_parameters(p)));
    // The metadata (vocabulary) is the same for every type: build it once.
    const auto metadata = synthetic_metadata(plan_synthetic(p, FileType::MOSTLY_F16));
    for (FileType ft : shown)
      std::printf(" %12s", human_bytes(gguf_file_size(metadata, plan_synthetic(p, ft).tensors)).c_str());
    std::printf("\n");
  }
}

// One line per tensor (name, type, shape, bytes), then the file size: what
// `synth` would write, without writing it.
void print_plan(const kiln::gguf::SyntheticPlan& plan) {
  for (const auto& t : plan.tensors) {
    std::string shape;
    for (int64_t d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    std::printf("%s %s %s %llu\n", t.name.c_str(), std::string(type_name(t.type)).c_str(), shape.c_str(),
                static_cast<unsigned long long>(t.nbytes));
  }
  const uint64_t size = kiln::gguf::gguf_file_size(kiln::gguf::synthetic_metadata(plan), plan.tensors);
  std::printf("# %zu tensors, %llu bytes of tensor data, file size %llu bytes\n", plan.tensors.size(),
              static_cast<unsigned long long>(plan.tensor_bytes()), static_cast<unsigned long long>(size));
}

void run(const SynthOptions& o) {
  using namespace kiln::gguf;
  if (o.list) {
    print_list();
    return;
  }
  if (o.preset.empty()) throw Error("name a preset (kiln synth --list shows them)");
  const Preset& preset = preset_or_throw(o.preset);
  const auto ft = parse_file_type(o.type);
  if (!ft) throw Error("unknown file type '" + o.type + "' (use f16, q8_0, q6_K, q5_K_M or q4_K_M)");
  const SyntheticPlan plan = plan_synthetic(preset, *ft, o.layers);
  if (o.plan) {
    print_plan(plan);
    return;
  }
  std::string out = o.output;
  if (out.empty()) out = std::string(preset.name) + "-" + std::string(file_type_name(*ft)) + ".gguf";

  const auto start = std::chrono::steady_clock::now();
  write_synthetic(plan, out, o.seed);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t size = std::filesystem::file_size(out);
  std::printf("wrote %s: %s %s, %lld layers, %zu tensors, %llu bytes (%s) in %.1f s\n", out.c_str(),
              std::string(preset.name).c_str(), std::string(file_type_name(*ft)).c_str(),
              static_cast<long long>(plan.n_layers), plan.tensors.size(), static_cast<unsigned long long>(size),
              human_bytes(size).c_str(), secs);
}

}  // namespace

void add_synth(CLI::App& app) {
  auto opts = std::make_shared<SynthOptions>();
  auto* cmd = app.add_subcommand("synth", "Write a random-weight GGUF with a real model's shapes");
  cmd->add_option("preset", opts->preset, "Model shape, e.g. llama3-8b (see --list)");
  cmd->add_option("-t,--type", opts->type, "File type: f16, q8_0, q6_K, q5_K_M, q4_K_M")->capture_default_str();
  cmd->add_option("-o,--output", opts->output, "Output file (default PRESET-TYPE.gguf)");
  cmd->add_option("--seed", opts->seed, "Seed for the weights (same seed, same bytes)")->capture_default_str();
  cmd->add_option("--layers", opts->layers, "Keep only the first N layers (small test models)");
  cmd->add_flag("--list", opts->list, "List the presets with parameter counts and file sizes");
  cmd->add_flag("--plan", opts->plan, "Print each tensor's type, shape and size instead of writing");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace kiln::cli
