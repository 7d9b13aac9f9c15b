#include "core/dtype.h"

#include <array>
#include <cctype>

#include "core/error.h"

namespace kiln {
namespace {

struct Entry {
  GgmlType type;
  TypeTraits traits;
};

constexpr std::array kTypes = {
    Entry{GgmlType::F32, {"f32", 1, 4, false}},
    Entry{GgmlType::F16, {"f16", 1, 2, false}},
    Entry{GgmlType::Q4_0, {"q4_0", 32, 18, true}},
    Entry{GgmlType::Q4_1, {"q4_1", 32, 20, true}},
    Entry{GgmlType::Q5_0, {"q5_0", 32, 22, true}},
    Entry{GgmlType::Q5_1, {"q5_1", 32, 24, true}},
    Entry{GgmlType::Q8_0, {"q8_0", 32, 34, true}},
    Entry{GgmlType::Q8_1, {"q8_1", 32, 40, true}},
    Entry{GgmlType::Q2_K, {"q2_K", 256, 84, true}},
    Entry{GgmlType::Q3_K, {"q3_K", 256, 110, true}},
    Entry{GgmlType::Q4_K, {"q4_K", 256, 144, true}},
    Entry{GgmlType::Q5_K, {"q5_K", 256, 176, true}},
    Entry{GgmlType::Q6_K, {"q6_K", 256, 210, true}},
    Entry{GgmlType::Q8_K, {"q8_K", 256, 292, true}},
    Entry{GgmlType::IQ2_XXS, {"iq2_xxs", 256, 66, true}},
    Entry{GgmlType::IQ2_XS, {"iq2_xs", 256, 74, true}},
    Entry{GgmlType::IQ3_XXS, {"iq3_xxs", 256, 98, true}},
    Entry{GgmlType::IQ1_S, {"iq1_s", 256, 50, true}},
    Entry{GgmlType::IQ4_NL, {"iq4_nl", 32, 18, true}},
    Entry{GgmlType::IQ3_S, {"iq3_s", 256, 110, true}},
    Entry{GgmlType::IQ2_S, {"iq2_s", 256, 82, true}},
    Entry{GgmlType::IQ4_XS, {"iq4_xs", 256, 136, true}},
    Entry{GgmlType::I8, {"i8", 1, 1, false}},
    Entry{GgmlType::I16, {"i16", 1, 2, false}},
    Entry{GgmlType::I32, {"i32", 1, 4, false}},
    Entry{GgmlType::I64, {"i64", 1, 8, false}},
    Entry{GgmlType::F64, {"f64", 1, 8, false}},
    Entry{GgmlType::IQ1_M, {"iq1_m", 256, 56, true}},
    Entry{GgmlType::BF16, {"bf16", 1, 2, false}},
    Entry{GgmlType::TQ1_0, {"tq1_0", 256, 54, true}},
    Entry{GgmlType::TQ2_0, {"tq2_0", 256, 66, true}},
    Entry{GgmlType::MXFP4, {"mxfp4", 32, 17, true}},
};

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

std::optional<TypeTraits> type_traits(uint32_t id) {
  for (const auto& e : kTypes)
    if (static_cast<uint32_t>(e.type) == id) return e.traits;
  return std::nullopt;
}

TypeTraits traits(GgmlType t) {
  auto tr = type_traits(static_cast<uint32_t>(t));
  if (!tr) throw Error("unknown tensor type id " + std::to_string(static_cast<uint32_t>(t)));
  return *tr;
}

std::string_view type_name(GgmlType t) { return traits(t).name; }

std::optional<GgmlType> parse_type_name(std::string_view name) {
  for (const auto& e : kTypes)
    if (iequal(e.traits.name, name)) return e.type;
  return std::nullopt;
}

size_t row_bytes(GgmlType t, int64_t n) {
  const TypeTraits tr = traits(t);
  if (n < 0 || n % tr.block_size != 0)
    throw Error(std::string("row of ") + std::to_string(n) + " values is not a multiple of the " +
                std::string(tr.name) + " block size " + std::to_string(tr.block_size));
  return static_cast<size_t>(n / tr.block_size) * tr.block_bytes;
}

}  // namespace kiln
