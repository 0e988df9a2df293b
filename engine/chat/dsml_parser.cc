#include "engine/chat/dsml_parser.h"

#include <set>

#include "common/json.h"
#include "common/utf8.h"
#include "engine/chat/chat_encoding.h"

namespace dsagent::engine {
namespace {

using dsml::kInvokeClose;
using dsml::kInvokeOpen;
using dsml::kParamClose;
using dsml::kParamOpen;
using dsml::kToolsClose;
using dsml::kToolsOpen;
// The opening without its newline: a block that is still arriving.
constexpr std::string_view kToolsStart = kToolsOpen.substr(0, kToolsOpen.size() - 2);

std::string At(size_t pos, const std::string& what) {
  return "malformed DSML at byte " + std::to_string(pos) + ": expected " + what;
}

// Reads `"...">` style attribute values; returns the position after the closing quote.
bool ReadUntil(std::string_view s, size_t& pos, std::string_view stop, std::string* out) {
  const size_t end = s.find(stop, pos);
  if (end == std::string_view::npos) return false;
  if (out) *out = std::string(s.substr(pos, end - pos));
  pos = end + stop.size();
  return true;
}

bool Consume(std::string_view s, size_t& pos, std::string_view lit) {
  if (s.substr(pos, lit.size()) != lit) return false;
  pos += lit.size();
  return true;
}

Expected<std::vector<ParsedToolCall>, std::string> ParseToolBlock(std::string_view s, size_t pos) {
  std::vector<ParsedToolCall> calls;
  if (!Consume(s, pos, kToolsOpen)) return MakeUnexpected(At(pos, "\"<｜DSML｜tool_calls>\\n\""));
  while (true) {
    if (Consume(s, pos, kToolsClose)) break;
    ParsedToolCall call;
    if (!Consume(s, pos, kInvokeOpen) || !ReadUntil(s, pos, "\">\n", &call.name)) {
      return MakeUnexpected(At(pos, "<｜DSML｜invoke name=\"NAME\">\\n or </｜DSML｜tool_calls>"));
    }
    Json args = Json::object();
    std::set<std::string> seen;
    std::string arguments = "{";
    while (true) {
      // An invoke without parameters renders as ">\n\n</｜DSML｜invoke>".
      if (Consume(s, pos, kInvokeClose)) break;
      if (s.substr(pos, 1) == "\n" && s.substr(pos + 1, kInvokeClose.size()) == kInvokeClose) {
        pos += 1 + kInvokeClose.size();
        break;
      }
      std::string name, kind, value;
      const size_t at = pos;
      if (!Consume(s, pos, kParamOpen) || !ReadUntil(s, pos, "\" string=\"", &name) ||
          !ReadUntil(s, pos, "\">", &kind) || !ReadUntil(s, pos, kParamClose, &value)) {
        return MakeUnexpected(At(at,
                                 "<｜DSML｜parameter name=\"K\" string=\"true|false\">V</｜DSML｜"
                                 "parameter> or </｜DSML｜invoke>"));
      }
      if (kind != "true" && kind != "false") {
        return MakeUnexpected(At(at, "string=\"true\" or string=\"false\" for parameter " + name));
      }
      if (!seen.insert(name).second) {
        return MakeUnexpected(At(at, "no duplicate parameter '" + name + "'"));
      }
      if (arguments.size() > 1) arguments += ", ";
      arguments +=
          CanonicalJson(Json(name)) + ": " + (kind == "true" ? CanonicalJson(Json(value)) : value);
      Consume(s, pos, "\n");
    }
    call.arguments = arguments + "}";
    calls.push_back(std::move(call));
    Consume(s, pos, "\n");
  }
  if (s.substr(pos) != tokens::kEos && !s.substr(pos).empty()) {
    return MakeUnexpected(At(pos, "<｜end▁of▁sentence｜> after the tool calls"));
  }
  return calls;
}

// The tool calls of a block being written (`s` starts at "\n\n<｜DSML｜tool_calls"), as far as
// they are certain: a call once its invoke tag is complete, arguments built the way
// ParseToolBlock builds them but only from bytes that cannot still turn into a closing tag. Stops
// quietly at the first thing ParseToolBlock would reject.
struct PartialToolCall {
  std::string name;
  std::string arguments;
  bool done = false;
};

// `s` without a suffix that could be the start of `marker`.
std::string_view CertainPrefix(std::string_view s, std::string_view marker) {
  for (size_t k = std::min(marker.size() - 1, s.size()); k > 0; --k) {
    if (s.substr(s.size() - k) == marker.substr(0, k)) return s.substr(0, s.size() - k);
  }
  return s;
}

// JSON string escaping of a piece of a string (no quotes): pieces escape independently.
std::string EscapedPiece(std::string_view text) {
  const std::string quoted = CanonicalJson(Json(std::string(text)));
  return quoted.substr(1, quoted.size() - 2);
}

std::vector<PartialToolCall> ScanToolBlock(std::string_view s) {
  std::vector<PartialToolCall> calls;
  size_t pos = 0;
  if (!Consume(s, pos, kToolsOpen)) return calls;
  while (pos < s.size()) {
    if (s.substr(pos, kToolsClose.size()) == kToolsClose) break;
    std::string name;
    if (!Consume(s, pos, kInvokeOpen) || !ReadUntil(s, pos, "\">\n", &name)) break;
    PartialToolCall call{name, "{", false};
    bool first = true;
    while (true) {
      if (Consume(s, pos, kInvokeClose)) {
        call.done = true;
        break;
      }
      if (s.substr(pos, 1) == "\n" && s.substr(pos + 1, kInvokeClose.size()) == kInvokeClose) {
        pos += 1 + kInvokeClose.size();
        call.done = true;
        break;
      }
      std::string key, kind;
      if (!Consume(s, pos, kParamOpen) || !ReadUntil(s, pos, "\" string=\"", &key) ||
          !ReadUntil(s, pos, "\">", &kind) || (kind != "true" && kind != "false")) {
        break;
      }
      call.arguments += (first ? "" : ", ") + CanonicalJson(Json(key)) + ": ";
      first = false;
      const bool raw = kind == "true";
      if (raw) call.arguments += "\"";
      const size_t end = s.find(kParamClose, pos);
      const std::string_view value = end == std::string_view::npos
                                         ? CertainPrefix(s.substr(pos), kParamClose)
                                         : s.substr(pos, end - pos);
      call.arguments += raw ? EscapedPiece(value) : std::string(value);
      if (end == std::string_view::npos) break;
      if (raw) call.arguments += "\"";
      pos = end + kParamClose.size();
      Consume(s, pos, "\n");
    }
    if (call.done) call.arguments += "}";
    const bool done = call.done;
    calls.push_back(std::move(call));
    if (!done) break;
    Consume(s, pos, "\n");
  }
  return calls;
}

}  // namespace

Expected<ParsedCompletion, std::string> ParseCompletion(std::string_view s, bool thinking) {
  ParsedCompletion out;
  size_t pos = 0;
  if (thinking) {
    const size_t end = s.find(tokens::kEndThink);
    if (end == std::string_view::npos) {  // cut while still reasoning
      out.reasoning = std::string(s);
      return out;
    }
    out.reasoning = std::string(s.substr(0, end));
    pos = end + std::string_view(tokens::kEndThink).size();
  }
  const size_t eos = s.find(tokens::kEos, pos);
  const size_t tools = s.find(kToolsStart, pos);
  const size_t content_end = std::min(eos, tools);
  out.content = std::string(s.substr(
      pos, content_end == std::string_view::npos ? std::string_view::npos : content_end - pos));
  for (const char* bad : {tokens::kBos, tokens::kThink, tokens::kEndThink, tokens::kDsml}) {
    if (out.content.find(bad) != std::string::npos) {
      return MakeUnexpected(std::string("the content contains the special token ") + bad);
    }
  }
  if (tools != std::string_view::npos && tools < eos) {
    auto calls = ParseToolBlock(s, tools);
    if (!calls) return MakeUnexpected(calls.error());
    out.tool_calls = std::move(*calls);
    out.ended = s.size() >= std::string_view(tokens::kEos).size() &&
                s.substr(s.size() - std::string_view(tokens::kEos).size()) == tokens::kEos;
  } else {
    out.ended = eos != std::string_view::npos;
  }
  return out;
}

StreamingCompletionParser::Delta StreamingCompletionParser::Feed(std::string_view chunk) {
  all_.append(chunk);
  Delta d;
  while (!in_tools_ && emitted_ < all_.size()) {
    const std::string_view rest = std::string_view(all_).substr(emitted_);
    // The markers that end the current section; text that could still turn into one stays held.
    std::vector<std::string_view> markers;
    if (in_reasoning_) {
      markers = {tokens::kEndThink};
    } else {
      markers = {kToolsStart, tokens::kEos};
    }
    size_t hit = std::string_view::npos, hit_len = 0;
    for (auto m : markers) {
      const size_t p = rest.find(m);
      if (p < hit) {
        hit = p;
        hit_len = m.size();
      }
    }
    std::string& sink = in_reasoning_ ? d.reasoning : d.content;
    if (hit != std::string_view::npos) {
      sink.append(rest.substr(0, hit));
      emitted_ += hit;
      if (in_reasoning_) {
        emitted_ += hit_len;
        in_reasoning_ = false;
        continue;
      }
      in_tools_ = true;  // tool calls or EOS: parsed at Finish()
      if (rest.substr(hit, kToolsStart.size()) == kToolsStart) tools_at_ = emitted_;
      break;
    }
    // Hold back a suffix that is a prefix of a marker.
    size_t hold = 0;
    for (auto m : markers) {
      for (size_t k = std::min(m.size() - 1, rest.size()); k > hold; --k) {
        if (rest.substr(rest.size() - k) == m.substr(0, k)) {
          hold = k;
          break;
        }
      }
    }
    // Never split a UTF-8 character between two deltas.
    const size_t n = Utf8SafePrefixLength(rest, rest.size() - hold);
    sink.append(rest.substr(0, n));
    emitted_ += n;
    break;
  }
  if (tools_at_ != std::string::npos) {
    const auto calls = ScanToolBlock(std::string_view(all_).substr(tools_at_));
    for (size_t i = 0; i < calls.size() && (max_calls_ == 0 || i < max_calls_); ++i) {
      ToolCallDelta piece;
      piece.index = i;
      if (i == sent_.size()) {
        piece.name = calls[i].name;
        sent_.push_back(0);
        done_.push_back(false);
      }
      piece.arguments = calls[i].arguments.substr(std::min(sent_[i], calls[i].arguments.size()));
      sent_[i] = std::max(sent_[i], calls[i].arguments.size());
      if (calls[i].done && !done_[i]) piece.done = done_[i] = true;
      if (!piece.name.empty() || !piece.arguments.empty() || piece.done) {
        d.tool_calls.push_back(std::move(piece));
      }
    }
  }
  return d;
}

Expected<ParsedCompletion, std::string> StreamingCompletionParser::Finish() const {
  return ParseCompletion(all_, thinking_);
}

}  // namespace dsagent::engine
