// The model pool's loading side: a request's model name and runner options
// turned into what to load (resolved before any lock is taken), how much
// memory that takes, and the load itself.
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "engine/chat_template_select.h"
#include "gguf/gguf.h"
#include "kv/kv_config.h"
#include "server/http_error.h"
#include "server/model_json.h"
#include "server/model_lookup.h"
#include "server/model_pool_internal.h"
#include "template/chat_template.h"

namespace kiln::server {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

size_t f32_bytes(int64_t n) { return (size_t(n) * 4 + 63) / 64 * 64; }

}  // namespace

// An estimate, not a measurement: the scheduler owns the engine and does not
// expose the byte counts of its cache and arena, so this mirrors how the
// Engine sizes them (engine.cpp: every layer group holds max_sequences
// sequences of `context` tokens, a sliding-window layer only its window plus
// one prefill chunk, plus one spare block per sequence; models/model.cpp's
// scratch_plan for the per-step arena). It counts the whole GGUF file as
// resident although it is memory-mapped (pages of unused tensors may never be
// read), and it leaves out what it cannot see: weights the CPU backend
// repacks into its own layout (a second copy of those tensors), the
// tokenizer's tables, the sampler's buffers and the allocator's slack.
uint64_t estimate_model_bytes(uint64_t file_bytes, const models::ModelConfig& mc, const engine::EngineConfig& e) {
  const int64_t block = std::max(e.block_size, 1);
  const int64_t context_blocks = (int64_t(e.context) + block - 1) / block;
  uint64_t kv = 0;
  for (int64_t layer = 0; layer < mc.n_layer; ++layer) {
    const bool swa = !mc.swa_layers.empty() && mc.is_swa(int(layer)) && mc.sliding_window > 0;
    int64_t blocks = context_blocks;
    if (swa) blocks = std::min(context_blocks, (mc.sliding_window + e.batch + block - 1) / block + 1);
    blocks = blocks * e.max_sequences + e.max_sequences;
    const size_t row = kv::head_row_bytes(e.kv_type, int(mc.head_dim));  // one token, one head, K (V the same)
    kv += uint64_t(blocks) * uint64_t(block) * uint64_t(mc.n_head_kv) * 2 * row;
  }
  // One step: e.batch tokens, one logits row per running sequence.
  const int64_t T = e.batch, R = std::max(e.max_sequences, e.max_logit_rows);
  size_t scratch = 3 * f32_bytes(T) + f32_bytes(T * mc.n_embd);
  scratch += f32_bytes(T * mc.n_embd) + 2 * f32_bytes(T * mc.n_head * mc.head_dim) +
             2 * f32_bytes(T * mc.n_head_kv * mc.head_dim) + 2 * f32_bytes(T * mc.n_ff);
  scratch += f32_bytes(R * mc.n_embd) + 2 * f32_bytes(R * mc.n_vocab);  // logits: the arena's and the engine's copy
  return file_bytes + kv + scratch;
}

ModelPool::Prepared ModelPool::prepare(const std::string& name, const engine::Options& runner) const {
  try {
    engine::validate(runner);
  } catch (const HttpError&) {
    throw;
  } catch (const kiln::Error& e) {
    throw bad_request(e.what());
  }
  const store::ModelName stored_name = find_model(store_, name);  // 400 invalid name, 404 unknown
  Prepared p;
  try {
    p.view = store::view_stored_model(store_, stored_name);
  } catch (const kiln::Error& e) {
    // The manifest vanished between find and read (a concurrent delete), or
    // a layer is unreadable.
    if (!store_.find(stored_name)) throw not_found("model '" + name + "' not found");
    throw HttpError(500, e.what());
  }
  p.key = lower(stored_name.full());
  p.digest = p.view.stored->digest.str();
  p.runner = runner;

  models::ModelConfig mc;
  try {
    mc = models::read_config(gguf::File::open(p.view.weights));
  } catch (const kiln::Error& e) {
    throw HttpError(500, "model '" + p.view.display_name + "' cannot be loaded: " + e.what());
  }
  p.arch = mc.arch_name;
  engine::EngineConfig& ec = p.engine;
  p.gpu = gpu_request(runner.num_gpu == -1 ? config_.num_gpu : runner.num_gpu, int(mc.n_layer), config_.backend,
                      gpu_);
  ec.kv_type = config_.kv_type;
  ec.kv_dir = config_.kv_dir;
  ec.kv_disk_bytes = config_.kv_disk_bytes;
  ec.threads = runner.num_thread;
  ec.context = runner.num_ctx;
  if (mc.context_length > 0) ec.context = int(std::min<int64_t>(ec.context, mc.context_length));
  ec.batch = std::min(runner.num_batch, ec.context);
  ec.max_sequences = std::max(config_.num_parallel, 1);
  std::error_code size_error;
  const uintmax_t file_bytes = std::filesystem::file_size(p.view.weights, size_error);
  p.estimated_bytes = estimate_model_bytes(size_error ? 0 : uint64_t(file_bytes), mc, ec);
  return p;
}

bool ModelPool::serves(const LoadedModel& m, const Prepared& p) {
  const bool on_gpu = backend::is_device_backend(m.backend);
  const bool placed = p.gpu == GpuRequest::kAuto || on_gpu == (p.gpu == GpuRequest::kAll);
  return m.digest == p.digest && m.runner.num_batch == p.runner.num_batch &&
         m.runner.num_thread == p.runner.num_thread && p.engine.context <= m.context_length && placed;
}

std::shared_ptr<LoadedModel> ModelPool::load(const Prepared& p) const {
  auto m = std::make_shared<LoadedModel>();
  m->name = p.view.display_name;
  m->digest = p.digest;
  m->view = p.view;
  m->runner = p.runner;
  m->context_length = p.engine.context;
  m->size_bytes = p.estimated_bytes;
  const Placement placement = place_model(p.gpu, gpu_, p.estimated_bytes, m->name, config_.device_memory);
  if (!placement.note.empty() && config_.log) config_.log("kiln: " + placement.note);
  m->backend = placement.backend;
  m->size_vram = placement.vram_bytes;

  engine::SchedulerConfig sc;
  sc.engine = p.engine;
  sc.engine.backend = placement.backend;
  sc.max_queue = config_.max_queue;
  sc.metrics = config_.metrics;
  sc.model_label = m->name;
  try {
    m->scheduler = std::make_unique<engine::Scheduler>(p.view.weights, std::move(sc));
    const gguf::File file = gguf::File::open(p.view.weights);
    engine::SelectedTemplate chosen =
        engine::select_chat_template(p.view.template_text, file, p.arch, m->scheduler->engine().tokenizer());
    m->chat_template = std::move(chosen.parsed);
    if (m->chat_template) m->thinking = engine::detect_thinking_tags(chosen.source);
  } catch (const HttpError&) {
    throw;
  } catch (const kiln::Error& e) {
    throw HttpError(500, "model '" + m->name + "' cannot be loaded: " + e.what());
  }
  std::string parent;
  for (const auto& l : p.view.stored->manifest.layers)
    if (!l.from.empty()) parent = l.from;
  m->details = model_details(read_config(store_, *p.view.stored), parent);
  return m;
}

}  // namespace kiln::server
