#include "engine/tokenizer/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>
#include <new>

#include "common/file_io.h"
#include "common/json.h"

namespace dsagent::engine {

// A compiled pattern is shared by every thread (PCRE2 matches with it read-only, the JIT on the
// caller's stack); the match data that receives a match's offsets is each call's own: one shared
// by all calls (as it was) let concurrent encodes read each other's offsets, which cut pieces
// wrongly or past their end (an out_of_range abort with `eval --jobs 2 --provider local`).
struct BpeTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

std::string CodepointToUtf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// Length of the UTF-8 character starting with byte c (1 for invalid bytes).
size_t CharLen(unsigned char c) {
  if (c >= 0xF0) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

}  // namespace

BpeTokenizer::~BpeTokenizer() = default;

Expected<std::unique_ptr<BpeTokenizer>, std::string> BpeTokenizer::Load(
    const std::filesystem::path& path) {
  const std::string where = path.string();
  auto text = ReadFileToString(path);
  if (!text) return MakeUnexpected(text.error());
  const Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return MakeUnexpected(where + ": not valid JSON");
  if (!j.contains("model") || !j["model"].is_object() || j["model"].value("type", "") != "BPE") {
    return MakeUnexpected(where + ": model.type must be BPE");
  }
  const Json& model = j["model"];
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());

  // GPT-2's reversible byte -> printable character map.
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t->byte_to_unicode_[b] =
        CodepointToUtf8(printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++));
    t->unicode_to_byte_[t->byte_to_unicode_[b]] = static_cast<uint8_t>(b);
  }

  int32_t max_id = -1;
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return MakeUnexpected(where + ": model.vocab must be an object");
  }
  for (const auto& [token, id] : model["vocab"].items()) {
    max_id = std::max(max_id, id.get<int32_t>());
  }
  for (const auto& a : j.value("added_tokens", Json::array())) {
    max_id = std::max(max_id, a.value("id", 0));
  }
  t->id_to_token_.assign(static_cast<size_t>(max_id + 1), "");
  t->is_added_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : model["vocab"].items()) {
    t->token_to_id_[token] = id.get<int32_t>();
    t->id_to_token_[static_cast<size_t>(id.get<int32_t>())] = token;
  }
  for (const auto& a : j.value("added_tokens", Json::array())) {
    const std::string content = a.value("content", "");
    const int32_t id = a.value("id", 0);
    t->added_.Add(content, id);
    t->token_to_id_[content] = id;
    t->id_to_token_[static_cast<size_t>(id)] = content;
    t->is_added_[static_cast<size_t>(id)] = true;
  }
  for (int b = 0; b < 256; ++b) t->byte_to_id_[b] = t->TokenId(t->byte_to_unicode_[b]);
  // Merges as ids. One whose parts or result are not in the vocabulary can never apply to a
  // vocabulary token (Hugging Face rejects such files); it is skipped.
  int32_t rank = 0;
  for (const auto& m : model.value("merges", Json::array())) {
    std::string left, right;
    if (m.is_string()) {
      const std::string pair = m.get<std::string>();
      const size_t space = pair.find(' ');
      if (space == std::string::npos) {
        return MakeUnexpected(where + ": model.merges entry \"" + pair + "\" has no space");
      }
      left = pair.substr(0, space);
      right = pair.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      return MakeUnexpected(where + ": model.merges entries must be \"a b\" or [a, b]");
    }
    const int32_t l = t->TokenId(left), r = t->TokenId(right), merged = t->TokenId(left + right);
    if (l >= 0 && r >= 0 && merged >= 0) t->merges_.Add(l, r, merged, rank);
    ++rank;
  }

  const Json pre = j.value("pre_tokenizer", Json());
  std::vector<Json> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence") {
    for (const auto& s : pre["pretokenizers"]) steps.push_back(s);
  } else if (pre.is_object()) {
    steps.push_back(pre);
  }
  for (const auto& s : steps) {
    const std::string type = s.value("type", "");
    if (type == "ByteLevel") {
      if (s.value("use_regex", true)) {
        return MakeUnexpected(where + ": ByteLevel pre-tokenizer with use_regex is not supported");
      }
      continue;
    }
    if (type != "Split" || s.value("behavior", "") != "Isolated" || s.value("invert", false) ||
        !s.contains("pattern") || !s["pattern"].contains("Regex")) {
      return MakeUnexpected(where + ": unsupported pre-tokenizer " + s.dump());
    }
    const std::string pattern = s["pattern"]["Regex"];
    int err = 0;
    PCRE2_SIZE offset = 0;
    auto re = std::make_unique<Regex>();
    re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
    if (re->code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return MakeUnexpected(where + ": pre-tokenizer regex at offset " + std::to_string(offset) +
                            ": " + reinterpret_cast<char*>(msg));
    }
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);  // best effort; the interpreter also works
    t->splits_.push_back(std::move(re));
  }
  return t;
}

Expected<int, std::string> BpeTokenizer::AddSpecialTokens(std::span<const SpecialToken> tokens) {
  int added = 0;
  for (const SpecialToken& t : tokens) {
    const std::string text(t.text);
    if (token_to_id_.count(text)) continue;
    if (t.id < 0) return MakeUnexpected("special token " + text + " has a negative id");
    const auto id = static_cast<size_t>(t.id);
    if (id < id_to_token_.size() && !id_to_token_[id].empty()) {
      return MakeUnexpected("cannot add special token " + text + " at id " + std::to_string(t.id) +
                            ": the tokenizer gives that id to " + id_to_token_[id]);
    }
    if (id >= id_to_token_.size()) {
      id_to_token_.resize(id + 1);
      is_added_.resize(id + 1, false);
    }
    id_to_token_[id] = text;
    is_added_[id] = true;
    token_to_id_[text] = t.id;
    added_.Add(text, t.id);
    ++added;
  }
  return added;
}

int32_t BpeTokenizer::TokenId(const std::string& token) const {
  auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

void BpeTokenizer::PreTokenize(std::string_view text, std::vector<std::string_view>* pieces) const {
  std::vector<std::string_view> current = {text}, next;
  for (const auto& re : splits_) {
    next.clear();
    const std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> match(
        pcre2_match_data_create_from_pattern(re->code, nullptr), pcre2_match_data_free);
    if (!match) throw std::bad_alloc();
    for (const std::string_view piece : current) {
      size_t start = 0, last = 0;
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      // PCRE2 validates the UTF-8 of the whole subject on every call unless told not to: once
      // per piece is enough (checking on every match made long pieces quadratic: a megabyte of
      // base64 took 90 s).
      uint32_t options = 0;
      while (start <= piece.size()) {
        const int rc =
            pcre2_match(re->code, subject, piece.size(), start, options, match.get(), nullptr);
        if (rc < 0) break;
        options = PCRE2_NO_UTF_CHECK;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        const size_t b = ov[0], e = ov[1];
        if (b > last) next.push_back(piece.substr(last, b - last));
        if (e > b) next.push_back(piece.substr(b, e - b));
        last = e;
        // An empty match must not loop: step over one character.
        start =
            e > b ? e : e + (e < piece.size() ? CharLen(static_cast<unsigned char>(piece[e])) : 1);
      }
      if (last < piece.size()) next.push_back(piece.substr(last));
    }
    std::swap(current, next);
  }
  for (const std::string_view p : current) {
    if (!p.empty()) pieces->push_back(p);
  }
}

void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>* out,
                               const CancelToken* cancel) const {
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mu_);
    if (auto it = cache_.find(std::string(piece)); it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // Symbols: the tokens of the piece's bytes (byte-level: one character per byte; no
  // byte_fallback in these vocabularies, so every byte-level character is a token).
  std::vector<int32_t> ids(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    ids[i] = byte_to_id_[static_cast<unsigned char>(piece[i])];
  }
  merges_.Merge(&ids, cancel);
  std::erase(ids, -1);
  out->insert(out->end(), ids.begin(), ids.end());
  if (cacheable && !(cancel && cancel->IsCancelled())) {
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kMaxCachedPieces) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
  }
}

void BpeTokenizer::EncodePlain(std::string_view text, std::vector<int32_t>* out,
                               const CancelToken* cancel) const {
  if (text.empty()) return;
  std::vector<std::string_view> pieces;
  PreTokenize(text, &pieces);
  size_t bytes = 0;
  for (const std::string_view piece : pieces) {
    // Checked every ~64 KiB of text, and inside long pieces by the merge itself.
    bytes += piece.size();
    if (cancel && bytes >= (1 << 16)) {
      if (cancel->IsCancelled()) return;
      bytes = 0;
    }
    EncodePiece(piece, out, cancel);
  }
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, const CancelToken* cancel) const {
  return EncodeResuming(text, {}, nullptr, cancel).ids;
}

namespace {

// The resume points still valid for a text that shares the first `shared` bytes: those whose
// ids were decided by shared bytes alone (read_end ascends). Returns the end of that run.
using ResumePoints = std::vector<BpeTokenizer::Encoding::ResumePoint>;
ResumePoints::const_iterator ValidPointsEnd(const ResumePoints& points, size_t shared) {
  return std::partition_point(points.begin(), points.end(),
                              [&](const auto& p) { return p.read_end <= shared; });
}

}  // namespace

size_t BpeTokenizer::KeepValidPrefix(Encoding& encoding, size_t shared) const {
  auto& points = encoding.resume_points;
  const auto usable = ValidPointsEnd(points, shared);
  if (usable == points.begin()) {
    encoding.ids.clear();
    points.clear();
    return 0;
  }
  const Encoding::ResumePoint from = *std::prev(usable);
  encoding.ids.resize(from.ids);
  points.erase(usable, points.end());
  return from.byte;
}

void BpeTokenizer::EncodeFrom(Encoding& out, std::string_view text, size_t pos,
                              const CancelToken* cancel) const {
  // The ids before each point depend on every match decision before it, so a point's read_end
  // is the furthest any of them looked (the kept points' included).
  size_t read_end = out.resume_points.empty() ? 0 : out.resume_points.back().read_end;
  for (auto m = added_.Next(text, pos); m.id >= 0; m = added_.Next(text, pos)) {
    EncodePlain(text.substr(pos, m.pos - pos), &out.ids, cancel);
    out.ids.push_back(m.id);
    pos = m.pos + m.length;
    read_end = std::max(read_end, m.read_end);
    out.resume_points.push_back({pos, out.ids.size(), read_end});
  }
  EncodePlain(text.substr(pos), &out.ids, cancel);
}

BpeTokenizer::Encoding BpeTokenizer::EncodeResuming(std::string_view text,
                                                    std::string_view previous_text,
                                                    const Encoding* previous,
                                                    const CancelToken* cancel) const {
  Encoding out;
  size_t pos = 0;
  if (previous != nullptr) {
    const size_t shared = static_cast<size_t>(
        std::mismatch(text.begin(), text.end(), previous_text.begin(), previous_text.end()).first -
        text.begin());
    const auto& points = previous->resume_points;
    const auto usable = ValidPointsEnd(points, shared);
    if (usable != points.begin()) {
      const Encoding::ResumePoint& from = *std::prev(usable);
      out.ids.assign(previous->ids.begin(),
                     previous->ids.begin() + static_cast<std::ptrdiff_t>(from.ids));
      out.resume_points.assign(points.begin(), usable);
      pos = from.byte;
    }
  }
  EncodeFrom(out, text, pos, cancel);
  return out;
}

size_t BpeTokenizer::EncodeInPlace(Encoding& encoding, std::string_view text, size_t shared,
                                   const CancelToken* cancel) const {
  const size_t pos = KeepValidPrefix(encoding, std::min(shared, text.size()));
  EncodeFrom(encoding, text, pos, cancel);
  return pos;
}

Expected<std::string, std::string> BpeTokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() ||
        id_to_token_[static_cast<size_t>(id)].empty()) {
      return MakeUnexpected("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                            std::to_string(id_to_token_.size()) + ")");
    }
    const std::string& token = id_to_token_[static_cast<size_t>(id)];
    if (is_added_[static_cast<size_t>(id)]) {
      out += token;
      continue;
    }
    for (size_t i = 0; i < token.size();) {
      const size_t len = CharLen(static_cast<unsigned char>(token[i]));
      auto it = unicode_to_byte_.find(token.substr(i, len));
      if (it != unicode_to_byte_.end()) out.push_back(static_cast<char>(it->second));
      i += len;
    }
  }
  return out;
}

}  // namespace dsagent::engine
