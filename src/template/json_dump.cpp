// Python's json.dumps, byte for byte: chat templates print tool schemas and
// tool-call arguments with `tojson`, and the model was trained on exactly
// Python's spacing, key order and escaping.
#include <algorithm>
#include <cmath>

#include "template/builtins.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

void append_hex4(std::string& out, unsigned value) {
  static const char* hex = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(hex[(value >> shift) & 0xF]);
}

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  for (char32_t c : text::decode(s)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          append_hex4(out, c);
        } else if (ensure_ascii && c > 0x7E) {
          if (c >= 0x10000) {  // UTF-16 surrogate pair, as Python writes it
            char32_t v = c - 0x10000;
            append_hex4(out, 0xD800 | (v >> 10));
            append_hex4(out, 0xDC00 | (v & 0x3FF));
          } else {
            append_hex4(out, c);
          }
        } else {
          text::append_utf8(out, c);
        }
    }
  }
  out.push_back('"');
}

class Encoder {
 public:
  explicit Encoder(const JsonFormat& f) : format_(f) {
    if (f.separators) {
      item_sep_ = f.separators->first;
      key_sep_ = f.separators->second;
    } else {
      item_sep_ = f.indent ? "," : ", ";
      key_sep_ = ": ";
    }
  }

  void encode(std::string& out, const Value& v, int level) {
    switch (v.storage().index()) {
      case 1: out += "null"; return;
      case 2: out += v.as_bool() ? "true" : "false"; return;
      case 3: out += std::to_string(v.as_int()); return;
      case 4: {
        double d = v.as_float();
        if (std::isnan(d))
          out += "NaN";
        else if (std::isinf(d))
          out += d > 0 ? "Infinity" : "-Infinity";
        else
          out += float_repr(d);
        return;
      }
      case 5: dump_string(out, v.as_string(), format_.ensure_ascii); return;
      case 6: encode_array(out, v.as_array().items, level); return;
      case 7: encode_object(out, v.as_object(), level); return;
      default:
        throw EvalFailure("Object of type " + type_name(v) + " is not JSON serializable");
    }
  }

 private:
  const JsonFormat& format_;
  std::string item_sep_, key_sep_;

  void newline(std::string& out, int level) {
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += *format_.indent;
  }

  void encode_array(std::string& out, const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep_;
      if (format_.indent) newline(out, level + 1);
      encode(out, items[i], level + 1);
    }
    if (format_.indent) newline(out, level);
    out.push_back(']');
  }

  void encode_object(std::string& out, const ObjectData& object, int level) {
    if (object.entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<std::string, Value>*> entries;
    for (const auto& entry : object.entries) entries.push_back(&entry);
    if (format_.sort_keys)
      std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
    out.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += item_sep_;
      if (format_.indent) newline(out, level + 1);
      dump_string(out, entries[i]->first, format_.ensure_ascii);
      out += key_sep_;
      encode(out, entries[i]->second, level + 1);
    }
    if (format_.indent) newline(out, level);
    out.push_back('}');
  }
};

}  // namespace

std::string dump_json(const Value& value, const JsonFormat& format) {
  std::string out;
  Encoder(format).encode(out, value, 0);
  return out;
}

}  // namespace kiln::tmpl
