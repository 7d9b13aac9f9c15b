// Pulling a GGUF file by URL: download (resumable), validate, then import it
// with create_model exactly as `kiln create` imports a local file (the same
// default template, parameters, config blob and manifest).
#include <regex>

#include "core/error.h"
#include "gguf/gguf.h"
#include "store/create.h"
#include "store/pull.h"

namespace kiln::store {
namespace fs = std::filesystem;
namespace {

// Percent-decoding for the file name shown to the user and used in names.
std::string url_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> path_segments(const Url& url) {
  std::vector<std::string> out;
  std::string_view path(url.target);
  path = path.substr(0, path.find('?'));
  while (!path.empty()) {
    const size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(url_decode(seg));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// A name part from free text: characters a name cannot hold become '-'
// (a namespace cannot hold '.').
std::string name_part(std::string_view text, bool allow_dot = true, size_t max_len = 80) {
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || (c == '.' && allow_dot);
    if (c == '.' && !out.empty() && out.back() == '.') continue;  // ".." is never a name part
    out += ok ? c : '-';
  }
  if (out.empty() || !((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= 'A' && out[0] <= 'Z') ||
                       (out[0] >= '0' && out[0] <= '9') || out[0] == '_'))
    out.insert(out.begin(), '_');
  return out.substr(0, max_len);
}

std::string file_stem(const std::string& file) {
  const size_t dot = file.rfind('.');
  return dot == std::string::npos ? file : file.substr(0, dot);
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

}  // namespace

bool is_gguf_url(std::string_view text) {
  if (text.substr(0, 7) != "http://" && text.substr(0, 8) != "https://") return false;
  std::string_view path = text.substr(0, text.find_first_of("?#"));
  if (path.size() < 5) return false;
  std::string ext(path.substr(path.size() - 5));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".gguf";
}

ModelName name_for_gguf_url(const Url& url) {
  const std::vector<std::string> seg = path_segments(url);
  if (seg.empty()) throw Error("cannot name a model after " + url.str() + ": the URL has no file name");
  const std::string stem = file_stem(seg.back());
  // Hugging Face: /<user>/<repo>/resolve/<revision>/<file>. The tag is the
  // quantization in the file name ("...-Q4_K_M.gguf"), as in Ollama's
  // hf.co/<user>/<repo>:<quant> names.
  const bool hf = url.host == "huggingface.co" || url.host == "hf.co" || url.host == "www.huggingface.co";
  if (hf && seg.size() >= 5 && seg[2] == "resolve") {
    static const std::regex quant(R"([-_.]((?:I?Q[0-9]_[A-Z0-9]+(?:_[A-Z0-9]+)?)|BF16|F16|F32)$)", std::regex::icase);
    std::smatch m;
    const std::string tag = std::regex_search(stem, m, quant) ? m[1].str() : stem;
    return ModelName::from_parts("hf.co", name_part(seg[0], false), name_part(seg[1]), name_part(tag));
  }
  return ModelName::parse(name_part(stem));
}

StoredModel pull_from_url(ModelStore& store, const Url& url, const PullOptions& options, const PullCallback& progress) {
  const ModelName name = options.name.empty() ? name_for_gguf_url(url) : ModelName::parse(options.name);
  const std::vector<std::string> seg = path_segments(url);
  const std::string file = seg.empty() ? url.str() : seg.back();

  // The partial file is named after the URL, so pulling the same URL again resumes it.
  const std::string key = sha256_of(url.str()).hex().substr(0, 32);
  const fs::path partial = store.blobs().dir() / ("url-" + key + "-partial");
  const fs::path validator = store.blobs().dir() / ("url-" + key + "-partial.validator");

  const std::string status = "pulling " + file;
  if (progress) progress({status, "", 0, 0});
  HttpGet get;
  get.url = url;
  get.headers = {{"User-Agent", "kiln/0.1.0"}};
  download_to_partial(get, partial, std::nullopt, validator, options.download, [&](uint64_t done, uint64_t total) {
    if (progress) progress({status, "", total, done});
  });

  if (progress) progress({"verifying GGUF", "", 0, 0});
  try {
    gguf::File::open(partial);
  } catch (const Error& e) {
    // A bad file would fail the same way after every resume: drop it.
    remove_quietly(partial);
    remove_quietly(validator);
    throw Error(url.str() + " is not a valid GGUF file: " + e.what());
  }

  CreateRequest request{name, Modelfile{}, store.blobs().dir(), ""};
  request.modelfile.from = partial.string();
  request.modelfile.from_line = 1;
  CreateProgress create_progress;
  create_progress.status = [&](const std::string& line) {
    if (progress) progress({line, "", 0, 0});
  };
  StoredModel model = create_model(store, request, create_progress);
  remove_quietly(partial);
  remove_quietly(validator);
  return model;
}

}  // namespace kiln::store
