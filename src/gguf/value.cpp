// gguf::Value (typed metadata values) and TensorInfo size helpers.
#include <cstdio>
#include <limits>
#include <string>

#include "gguf/gguf.h"

namespace kiln::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "unknown";
}

namespace {

std::string type_desc(const Value& v) {
  std::string s(value_type_name(v.type()));
  if (v.is_array()) s += " of " + std::string(value_type_name(v.elem_type()));
  return s;
}

[[noreturn]] void wrong_type(const Value& v, const char* expected) {
  throw Error(std::string("metadata value has type ") + type_desc(v) + ", expected " + expected);
}

void append_quoted(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

Value Value::array(ValueType elem_type, Array items) {
  // A GGUF array stores one element type for all its items; a mismatch here
  // would write a file that readers decode as garbage.
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].type() != elem_type)
      throw Error("array item " + std::to_string(i) + " has type " + type_desc(items[i]) +
                  " but the array's element type is " + std::string(value_type_name(elem_type)));
  Value v(ValueType::ARRAY, std::move(items));
  v.elem_type_ = elem_type;
  return v;
}

bool Value::is_integer() const {
  switch (type_) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default:
      return false;
  }
}

int64_t Value::as_int() const {
  if (!is_integer()) wrong_type(*this, "an integer");
  if (const auto* u = std::get_if<uint64_t>(&data_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error("metadata value " + std::to_string(*u) + " does not fit in int64");
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(data_);
}

uint64_t Value::as_uint() const {
  if (!is_integer()) wrong_type(*this, "an integer");
  if (const auto* i = std::get_if<int64_t>(&data_)) {
    if (*i < 0) throw Error("metadata value " + std::to_string(*i) + " is negative, expected unsigned");
    return static_cast<uint64_t>(*i);
  }
  return std::get<uint64_t>(data_);
}

double Value::as_float() const {
  if (const auto* d = std::get_if<double>(&data_)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&data_)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&data_)) return static_cast<double>(*i);
  wrong_type(*this, "a number");
}

bool Value::as_bool() const {
  if (type_ != ValueType::BOOL) wrong_type(*this, "bool");
  return std::get<bool>(data_);
}

const std::string& Value::as_string() const {
  if (type_ != ValueType::STRING) wrong_type(*this, "string");
  return std::get<std::string>(data_);
}

const Value::Array& Value::as_array() const {
  if (type_ != ValueType::ARRAY) wrong_type(*this, "array");
  return std::get<Array>(data_);
}

std::string Value::to_display(size_t max_items) const {
  std::string out;
  switch (type_) {
    case ValueType::STRING:
      append_quoted(out, std::get<std::string>(data_));
      return out;
    case ValueType::BOOL:
      return std::get<bool>(data_) ? "true" : "false";
    case ValueType::F32:
    case ValueType::F64: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.9g", std::get<double>(data_));
      return buf;
    }
    case ValueType::ARRAY: {
      const Array& items = std::get<Array>(data_);
      out += '[';
      const size_t shown = items.size() < max_items ? items.size() : max_items;
      for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        out += items[i].to_display(max_items);
      }
      if (shown < items.size())
        out += (shown ? ", ... (" : "... (") + std::to_string(items.size()) + " items)";
      out += ']';
      return out;
    }
    default:
      if (const auto* u = std::get_if<uint64_t>(&data_)) return std::to_string(*u);
      return std::to_string(std::get<int64_t>(data_));
  }
}

int64_t TensorInfo::nelements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorInfo::nrows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace kiln::gguf
