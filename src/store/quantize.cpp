#include "store/quantize.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/quant/quant.h"
#include "store/model_info.h"

namespace kiln::store {
namespace {

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

std::string accepted_targets() {
  std::string out;
  for (gguf::FileType ft : gguf::supported_file_types()) {
    if (!traits(gguf::default_tensor_type(ft)).quantized) continue;
    if (!out.empty()) out += ", ";
    out += std::string(gguf::file_type_name(ft));
  }
  return out;
}

// Converts `count` values of a float-typed source into `dst_type`, splitting
// the work over two threads for large pieces (quantizing is compute-bound).
void convert(GgmlType src_type, const uint8_t* src, GgmlType dst_type, uint8_t* dst, int64_t count) {
  const TypeTraits dt = traits(dst_type);
  const TypeTraits st = traits(src_type);
  auto run = [&](int64_t first_block, int64_t blocks) {
    if (blocks <= 0) return;
    const int64_t n = blocks * dt.block_size;
    const int64_t first = first_block * dt.block_size;
    std::vector<float> tmp(static_cast<size_t>(n));
    dequantize_row(src_type, src + static_cast<size_t>(first) * st.block_bytes, tmp.data(), n);
    quantize_row(dst_type, tmp.data(), dst + static_cast<size_t>(first_block) * dt.block_bytes, n);
  };
  const int64_t blocks = count / dt.block_size;
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t workers = std::min<int64_t>(hw, count >= (1 << 16) ? 2 * hw : 1);
  if (workers <= 1) {
    run(0, blocks);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
  const int64_t per = (blocks + workers - 1) / workers;
  for (int64_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      try {
        run(w * per, std::min(per, blocks - w * per));
      } catch (...) {
        errors[static_cast<size_t>(w)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

gguf::FileType check_quant_target(std::string_view target) {
  auto ft = gguf::parse_file_type(target);
  if (!ft || !traits(gguf::default_tensor_type(*ft)).quantized)
    throw Error("unsupported quantization type \"" + std::string(target) + "\" (supported: " + accepted_targets() + ")");
  return *ft;
}

std::string canonical_quant_name(std::string_view target) {
  return std::string(gguf::file_type_name(check_quant_target(target)));
}

void quantize_gguf(const gguf::File& src, std::string_view target, const std::filesystem::path& out,
                   const ByteProgress& progress) {
  const gguf::FileType ft = check_quant_target(target);
  const ModelInfo info = summarize(src);
  for (const auto& t : src.tensors())
    if (!is_float_type(t.type))
      throw Error("quantization is only supported for F32, F16 and BF16 models: tensor '" + t.name + "' of " +
                  src.name() + " is " + std::string(type_name(t.type)) + " (file type " + info.file_type + ")");

  gguf::MixModel mix;
  mix.arch = info.architecture;
  mix.n_layers = static_cast<int>(info.block_count.value_or(0));
  mix.has_output = src.tensor("output.weight") != nullptr;
  mix.is_70b = info.architecture == "llama" && mix.n_layers == 80;

  gguf::Writer w(src.version() >= 3 ? 3 : 2);
  for (const auto& [key, value] : src.metadata()) w.set(key, value);
  w.set("general.file_type", gguf::Value::u32(static_cast<uint32_t>(ft)));
  w.set("general.quantization_version", gguf::Value::u32(2));

  uint64_t total = 0;
  for (const auto& t : src.tensors()) total += static_cast<uint64_t>(t.nelements());
  auto done = std::make_shared<uint64_t>(0);

  for (const auto& t : src.tensors()) {
    const GgmlType dst_type = gguf::tensor_type_for(ft, mix, t.name, t.shape, t.type);
    if (dst_type == t.type) {
      // Streamed from the mapping rather than copied up front: a kept F16
      // embedding can be hundreds of MB.
      auto offset = std::make_shared<uint64_t>(0);
      w.add_tensor(t.name, t.type, t.shape, [offset, data = t.data](uint8_t* dst, size_t nbytes) {
        std::memcpy(dst, data + *offset, nbytes);
        *offset += nbytes;
      });
      *done += static_cast<uint64_t>(t.nelements());
      continue;
    }
    if (!can_quantize(dst_type))
      throw Error("tensor '" + t.name + "': kiln cannot encode " + std::string(type_name(dst_type)) + " yet");
    // The writer asks for the tensor's bytes piece by piece, in order; the
    // position lives in the closure.
    auto pos = std::make_shared<int64_t>(0);
    const TypeTraits dt = traits(dst_type);
    w.add_tensor(t.name, dst_type, t.shape,
                 [=, &progress, src_type = t.type, data = t.data](uint8_t* dst, size_t nbytes) {
                   const int64_t count = static_cast<int64_t>(nbytes / dt.block_bytes) * dt.block_size;
                   const size_t src_elem = traits(src_type).block_bytes;
                   convert(src_type, data + static_cast<size_t>(*pos) * src_elem, dst_type, dst, count);
                   *pos += count;
                   *done += static_cast<uint64_t>(count);
                   if (progress) progress("quantizing", *done, total);
                 });
  }
  w.write(out);
}

}  // namespace kiln::store
