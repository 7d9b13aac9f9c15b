#include "store/name.h"

#include "core/error.h"

namespace kiln::store {
namespace {

enum class Part { Host, Namespace, Model, Tag };

const char* part_label(Part p) {
  switch (p) {
    case Part::Host: return "host";
    case Part::Namespace: return "namespace";
    case Part::Model: return "model";
    case Part::Tag: return "tag";
  }
  return "part";
}

size_t max_len(Part p) { return p == Part::Host ? 350 : 80; }

bool is_alnum_or_underscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Shows hostile input safely in an error message.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  if (s.size() > 100) out += "...";
  return out;
}

// Ollama's rules (types/model/name.go): first character alphanumeric or '_';
// then also '-', '_', '.' (not in a namespace) and ':' (host only, for a port).
// kiln adds: no "..", so no part can ever be read as a parent directory.
std::string part_problem(Part kind, std::string_view s) {
  if (s.empty()) return std::string(part_label(kind)) + " is empty";
  if (s.size() > max_len(kind))
    return std::string(part_label(kind)) + " is longer than " + std::to_string(max_len(kind)) + " characters";
  if (!is_alnum_or_underscore(s[0]))
    return std::string(part_label(kind)) + " must start with a letter, digit or '_'";
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (is_alnum_or_underscore(c) || c == '-') continue;
    if (c == '.' && kind != Part::Namespace) {
      if (s[i - 1] == '.') return std::string(part_label(kind)) + " contains \"..\"";
      continue;
    }
    if (c == ':' && kind == Part::Host) continue;
    return std::string(part_label(kind)) + " contains the character '" + printable(std::string_view(&c, 1)) +
           "' (allowed: letters, digits, '_', '-'" + (kind == Part::Namespace ? "" : ", '.'") +
           (kind == Part::Host ? ", ':'" : "") + ")";
  }
  return {};
}

void check_part(Part kind, std::string_view s, std::string_view whole) {
  if (auto problem = part_problem(kind, s); !problem.empty())
    throw Error("invalid model name \"" + printable(whole) + "\": " + problem);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

ModelName ModelName::parse(std::string_view text) {
  const std::string_view whole = text;
  // A pasted registry URL names the same model.
  for (std::string_view scheme : {"https://", "http://"})
    if (text.substr(0, scheme.size()) == scheme) text.remove_prefix(scheme.size());
  if (text.empty()) throw Error("invalid model name: the name is empty");
  if (text.size() > 350 + 80 * 3 + 3) throw Error("invalid model name \"" + printable(whole) + "\": too long");

  ModelName n;
  // ':' after the last '/' starts the tag; a ':' before it belongs to a host port.
  size_t colon = text.rfind(':');
  size_t slash = text.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    n.tag_ = std::string(text.substr(colon + 1));
    check_part(Part::Tag, n.tag_, whole);
    text = text.substr(0, colon);
  } else {
    n.tag_ = kDefaultTag;
  }

  // Split the rest on '/' from the right: model, namespace, host.
  std::string_view parts[3];
  int count = 0;
  for (;;) {
    size_t pos = text.rfind('/');
    if (count == 2) {  // whatever is left is the host; a '/' in it is an error
      parts[count++] = text;
      break;
    }
    parts[count++] = pos == std::string_view::npos ? text : text.substr(pos + 1);
    if (pos == std::string_view::npos) break;
    text = text.substr(0, pos);
  }
  n.model_ = std::string(parts[0]);
  check_part(Part::Model, n.model_, whole);
  n.ns_ = count >= 2 ? std::string(parts[1]) : std::string(kDefaultNamespace);
  check_part(Part::Namespace, n.ns_, whole);
  n.host_ = count >= 3 ? std::string(parts[2]) : std::string(kDefaultHost);
  check_part(Part::Host, n.host_, whole);
  return n;
}

ModelName ModelName::from_parts(std::string host, std::string ns, std::string model, std::string tag) {
  ModelName n;
  const std::string whole = host + "/" + ns + "/" + model + ":" + tag;
  check_part(Part::Host, host, whole);
  check_part(Part::Namespace, ns, whole);
  check_part(Part::Model, model, whole);
  check_part(Part::Tag, tag, whole);
  n.host_ = std::move(host);
  n.ns_ = std::move(ns);
  n.model_ = std::move(model);
  n.tag_ = std::move(tag);
  return n;
}

bool ModelName::is_valid(std::string_view text) {
  try {
    parse(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string ModelName::display() const {
  std::string out;
  if (!iequals(host_, kDefaultHost))
    out = host_ + "/" + ns_ + "/";
  else if (!iequals(ns_, kDefaultNamespace))
    out = ns_ + "/";
  return out + model_ + ":" + tag_;
}

std::string ModelName::full() const { return host_ + "/" + ns_ + "/" + model_ + ":" + tag_; }

std::filesystem::path ModelName::manifest_path() const {
  return std::filesystem::path(host_) / ns_ / model_ / tag_;
}

bool ModelName::equal_fold(const ModelName& o) const {
  return iequals(host_, o.host_) && iequals(ns_, o.ns_) && iequals(model_, o.model_) && iequals(tag_, o.tag_);
}

}  // namespace kiln::store
