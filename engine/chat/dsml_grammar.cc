#include "engine/chat/dsml_grammar.h"

#include "engine/chat/chat_encoding.h"

namespace dsagent::engine {
namespace {

// The block's opening and its first invoke: forced together.
constexpr std::string_view kOpenBlock = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"";
static_assert(kOpenBlock.substr(0, dsml::kToolsOpen.size()) == dsml::kToolsOpen &&
              kOpenBlock.substr(dsml::kToolsOpen.size()) == dsml::kInvokeOpen);
constexpr std::string_view kNextInvoke = dsml::kInvokeOpen;
constexpr std::string_view kEndBlock = dsml::kToolsClose;
constexpr std::string_view kEndInvoke = dsml::kInvokeClose;
constexpr std::string_view kParamTag = dsml::kParamOpen;
using dsml::kParamClose;
constexpr std::string_view kKindRaw = " string=\"true\">";
constexpr std::string_view kKindJson = " string=\"false\">";

// JSON matcher sub-states (DsmlGrammar::json_).
enum JsonState : uint8_t {
  kJValue,       // a value must start (whitespace inside containers)
  kJString,      // inside a string
  kJEscape,      // after a backslash
  kJHex,         // inside \uXXXX
  kJMinus,       // after '-': a digit
  kJZero,        // a leading 0 (accepting)
  kJInt,         // integer digits (accepting)
  kJDot,         // after '.': a digit
  kJFrac,        // fraction digits (accepting)
  kJExpMark,     // after e/E: sign or digit
  kJExpSign,     // after the exponent's sign: a digit
  kJExp,         // exponent digits (accepting)
  kJLiteral,     // inside true / false / null
  kJAfterValue,  // in a container after a value: , ] }
  kJKeyOrEnd,    // after '{': a key or '}'
  kJKey,         // after ',' in an object: a key
  kJColon,       // after a key: ':'
  kJArrayStart,  // after '[': a value or ']'
};
constexpr std::string_view kJsonLiterals[] = {"true", "false", "null"};

bool IsJsonSpace(unsigned char b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool IsDigit(unsigned char b) { return b >= '0' && b <= '9'; }
bool IsHex(unsigned char b) {
  return IsDigit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

bool NameFitsDsml(const std::string& name) {
  return !name.empty() && name.find_first_of("\"<>\n") == std::string::npos;
}

DsmlParamSpec ParamSpec(const std::string& name, const OrderedJson& schema) {
  DsmlParamSpec p;
  p.name = name;
  const std::string head = std::string(kParamTag) + name + "\"";
  p.open_raw = head + std::string(kKindRaw);
  p.open_json = head + std::string(kKindJson);
  const std::string type =
      schema.is_object() && schema.contains("type") && schema["type"].is_string()
          ? schema["type"].get<std::string>()
          : "";
  const auto one_of = [&p](const std::vector<std::string>& values, bool raw) {
    p.value = DsmlParamSpec::Value::kOneOf;
    p.raw_one_of = raw;
    for (const auto& v : values) p.one_of_closed.push_back(v + std::string(kParamClose));
  };
  if (schema.is_object() && schema.contains("enum") && schema["enum"].is_array() &&
      !schema["enum"].empty()) {
    bool all_strings = true;
    std::vector<std::string> texts, json;
    for (const auto& v : schema["enum"]) {
      all_strings = all_strings && v.is_string();
      if (v.is_string()) texts.push_back(v.get<std::string>());
      json.push_back(CanonicalJson(Json::parse(v.dump())));
    }
    // A value holding the closing tag could not be told from the tag: such enums stay free.
    bool safe = true;
    for (const auto& t : texts) safe = safe && t.find(tokens::kDsml) == std::string::npos;
    if (safe) {
      if (all_strings && (type.empty() || type == "string")) {
        one_of(texts, true);
      } else {
        one_of(json, false);
      }
      return p;
    }
  }
  if (type == "boolean") {
    one_of({"true", "false"}, false);
  } else if (type == "string") {
    p.value = DsmlParamSpec::Value::kRawString;
  } else if (!type.empty()) {
    p.value = DsmlParamSpec::Value::kJson;
  }
  return p;
}

uint64_t Fnv1a(uint64_t h, unsigned char b) { return (h ^ b) * 1099511628211ull; }
constexpr uint64_t kFnvStart = 14695981039346656037ull;

}  // namespace

Expected<std::vector<DsmlToolSpec>, std::string> DsmlToolSpecs(const OrderedJson& tools,
                                                               const std::string& only) {
  std::vector<DsmlToolSpec> out;
  if (!tools.is_array()) return out;
  for (const auto& t : tools) {
    if (!t.is_object() || !t.contains("function") || !t["function"].is_object()) continue;
    const OrderedJson& fn = t["function"];
    const std::string name =
        fn.contains("name") && fn["name"].is_string() ? fn["name"].get<std::string>() : "";
    if (!only.empty() && name != only) continue;
    if (!NameFitsDsml(name)) {
      return MakeUnexpected("tool name '" + name +
                            "' cannot be written in a DSML tool call (it must be non-empty and "
                            "hold no '\"', '<', '>' or newline)");
    }
    DsmlToolSpec spec;
    spec.name = name;
    spec.invoke_tag = name + "\">\n";
    const OrderedJson params = fn.contains("parameters") ? fn["parameters"] : OrderedJson();
    const bool listed = params.is_object() && params.contains("properties") &&
                        params["properties"].is_object() && !params["properties"].empty();
    const bool closed = params.is_object() && params.contains("additionalProperties") &&
                        params["additionalProperties"] == false;
    if (listed && params["properties"].size() <= 64) {
      for (const auto& [key, schema] : params["properties"].items()) {
        if (!NameFitsDsml(key)) {
          spec.params.clear();
          spec.any_params = true;
          break;
        }
        spec.params.push_back(ParamSpec(key, schema));
      }
    } else {
      spec.any_params = !listed ? !closed : true;
    }
    if (!spec.any_params && params.contains("required") && params["required"].is_array()) {
      for (const auto& r : params["required"]) {
        for (size_t i = 0; i < spec.params.size(); ++i) {
          if (r.is_string() && r.get<std::string>() == spec.params[i].name) {
            spec.required |= uint64_t{1} << i;
          }
        }
      }
    }
    out.push_back(std::move(spec));
  }
  if (!only.empty() && out.empty()) {
    return MakeUnexpected("no tool named '" + only + "' among the tools");
  }
  return out;
}

DsmlGrammar::DsmlGrammar(const DsmlGrammarSpec& spec) : spec_(&spec) {
  if (spec.thinking) {
    state_ = State::kReasoning;
  } else if (spec.mode == DsmlGrammarSpec::Mode::kNoTools) {
    state_ = State::kText;
  } else {
    StartChoice(Choice::kOpen);
  }
}

bool DsmlGrammar::Feed(std::string_view bytes) {
  for (const char c : bytes) {
    if (!FeedByte(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool DsmlGrammar::AcceptsByte(unsigned char b) const {
  DsmlGrammar copy = *this;
  return copy.FeedByte(b);
}

bool DsmlGrammar::MayEnd() const {
  return spec_->mode == DsmlGrammarSpec::Mode::kNoTools || state_ == State::kEnd;
}

void DsmlGrammar::StartChoice(Choice c) {
  state_ = State::kChoice;
  choice_ = c;
  matched_ = 0;
  candidate_ = 0;
}

void DsmlGrammar::StartValue(size_t param) {
  param_ = static_cast<uint32_t>(param);
  tail_len_ = 0;
  const DsmlParamSpec& p = tool().params[param];
  if (p.value == DsmlParamSpec::Value::kOneOf) {
    StartChoice(Choice::kOneOfValue);
    return;
  }
  // kAny: the kind the model chose (candidate parity: even = raw).
  const bool raw = p.value == DsmlParamSpec::Value::kRawString ||
                   (p.value == DsmlParamSpec::Value::kAny && candidate_ % 2 == 0);
  if (raw) {
    state_ = State::kRawValue;
  } else {
    state_ = State::kJsonValue;
    json_ = kJValue;
    depth_ = 0;
  }
}

size_t DsmlGrammar::CandidateCount() const {
  switch (choice_) {
    case Choice::kOpen:
    case Choice::kCloseParam:
      return 1;
    case Choice::kToolName:
      return spec_->tools.size();
    case Choice::kParamOrEnd:
      return 2 * tool().params.size() + 2;
    case Choice::kFreeKind:
    case Choice::kAfterInvoke:
      return 2;
    case Choice::kOneOfValue:
      return tool().params[param_].one_of_closed.size();
  }
  return 0;
}

DsmlGrammar::Candidate DsmlGrammar::CandidateAt(size_t i) const {
  switch (choice_) {
    case Choice::kOpen:
      return {true, false, kOpenBlock};
    case Choice::kCloseParam:
      return {true, false, kParamClose};
    case Choice::kToolName:
      return {true, false, spec_->tools[i].invoke_tag};
    case Choice::kFreeKind:
      return {true, false, i == 0 ? kKindRaw : kKindJson};
    case Choice::kOneOfValue:
      return {true, false, tool().params[param_].one_of_closed[i]};
    case Choice::kAfterInvoke:
      if (i == 0) return {!spec_->single_call, true, kNextInvoke};
      return {true, true, kEndBlock};
    case Choice::kParamOrEnd: {
      const DsmlToolSpec& t = tool();
      const size_t n = t.params.size();
      const bool newline = params_written_ > 0;
      if (i == 2 * n) return {(used_ & t.required) == t.required, true, kEndInvoke};
      if (i == 2 * n + 1) return {t.any_params && free_count_ < 16, newline, kParamTag};
      const DsmlParamSpec& p = t.params[i / 2];
      const bool raw = i % 2 == 0;
      bool ok = (used_ & (uint64_t{1} << (i / 2))) == 0;
      switch (p.value) {
        case DsmlParamSpec::Value::kRawString:
          ok = ok && raw;
          break;
        case DsmlParamSpec::Value::kJson:
          ok = ok && !raw;
          break;
        case DsmlParamSpec::Value::kOneOf:
          ok = ok && raw == p.raw_one_of;
          break;
        case DsmlParamSpec::Value::kAny:
          break;
      }
      return {ok, newline, raw ? std::string_view(p.open_raw) : std::string_view(p.open_json)};
    }
  }
  return {};
}

bool DsmlGrammar::FeedChoice(unsigned char b) {
  const size_t n = CandidateCount();
  const Candidate current = CandidateAt(candidate_);
  for (size_t j = 0; j < n; ++j) {
    const Candidate c = CandidateAt(j);
    if (!c.ok || c.size() <= matched_ || static_cast<unsigned char>(c.at(matched_)) != b) continue;
    bool same_prefix = true;
    if (j != candidate_) {
      for (size_t k = 0; k < matched_ && same_prefix; ++k) same_prefix = c.at(k) == current.at(k);
    }
    if (!same_prefix) continue;
    candidate_ = static_cast<uint32_t>(j);
    if (++matched_ == c.size()) Chose(j);
    return true;
  }
  return false;
}

void DsmlGrammar::Chose(size_t j) {
  switch (choice_) {
    case Choice::kOpen:
      StartChoice(Choice::kToolName);
      return;
    case Choice::kToolName:
      tool_ = static_cast<uint32_t>(j);
      used_ = 0;
      params_written_ = 0;
      free_count_ = 0;
      StartChoice(Choice::kParamOrEnd);
      return;
    case Choice::kParamOrEnd: {
      const size_t n = tool().params.size();
      if (j == 2 * n) {
        StartChoice(Choice::kAfterInvoke);
      } else if (j == 2 * n + 1) {
        state_ = State::kFreeName;
        free_name_len_ = 0;
        free_hash_ = kFnvStart;
      } else {
        used_ |= uint64_t{1} << (j / 2);
        StartValue(j / 2);
      }
      return;
    }
    case Choice::kFreeKind:
      tail_len_ = 0;
      if (j == 0) {
        state_ = State::kRawValue;
      } else {
        state_ = State::kJsonValue;
        json_ = kJValue;
        depth_ = 0;
      }
      return;
    case Choice::kOneOfValue:
    case Choice::kCloseParam:
      ++params_written_;
      StartChoice(Choice::kParamOrEnd);
      return;
    case Choice::kAfterInvoke:
      if (j == 0) {
        StartChoice(Choice::kToolName);
      } else {
        state_ = State::kEnd;
      }
      return;
  }
}

// Free text (reasoning, raw values, kNoTools text): ends at a terminator, rejects forbidden
// markers. Markers are checked when their last byte arrives.
bool DsmlGrammar::FeedFreeText(unsigned char b) {
  if (tail_len_ == tail_.size()) {
    std::copy(tail_.begin() + 1, tail_.end(), tail_.begin());
    --tail_len_;
  }
  tail_[tail_len_++] = static_cast<char>(b);
  const std::string_view tail(tail_.data(), tail_len_);
  const auto ends_with = [&tail](std::string_view m) {
    return tail.size() >= m.size() && tail.substr(tail.size() - m.size()) == m;
  };
  if (ends_with(tokens::kEos)) return false;
  switch (state_) {
    case State::kReasoning:
      if (ends_with(tokens::kEndThink)) {
        tail_len_ = 0;
        if (spec_->mode == DsmlGrammarSpec::Mode::kNoTools) {
          state_ = State::kText;
        } else {
          StartChoice(Choice::kOpen);
        }
      }
      return true;
    case State::kText:
      for (const char* bad : {tokens::kDsml, tokens::kBos, tokens::kThink, tokens::kEndThink}) {
        if (ends_with(bad)) return false;
      }
      return true;
    case State::kRawValue: {
      if (ends_with(kParamClose)) {
        ++params_written_;
        StartChoice(Choice::kParamOrEnd);
        return true;
      }
      // "｜DSML｜" only as part of the closing tag being written.
      return !ends_with(tokens::kDsml) || ends_with("</｜DSML｜");
    }
    default:
      return false;
  }
}

bool DsmlGrammar::FeedJson(unsigned char b, bool* done, bool* consumed) {
  *done = false;
  *consumed = true;
  const auto value_ended = [this, done]() {
    if (depth_ == 0) {
      *done = true;
    } else {
      json_ = kJAfterValue;
    }
  };
  while (true) {
    switch (json_) {
      case kJValue:
        if (IsJsonSpace(b)) return depth_ > 0;
        if (b == '{' || b == '[') {
          if (depth_ == stack_.size()) return false;
          stack_[depth_++] = static_cast<char>(b);
          json_ = b == '{' ? kJKeyOrEnd : kJArrayStart;
          return true;
        }
        if (b == '"') {
          json_ = kJString;
          json_key_ = false;
          return true;
        }
        if (b == '-') {
          json_ = kJMinus;
          return true;
        }
        if (IsDigit(b)) {
          json_ = b == '0' ? kJZero : kJInt;
          return true;
        }
        for (uint8_t i = 0; i < 3; ++i) {
          if (b == static_cast<unsigned char>(kJsonLiterals[i][0])) {
            json_ = kJLiteral;
            literal_ = i;
            literal_pos_ = 1;
            return true;
          }
        }
        return false;
      case kJString:
        if (b == '"') {
          if (json_key_) {
            json_ = kJColon;
          } else {
            value_ended();
          }
          return true;
        }
        if (b == '\\') {
          json_ = kJEscape;
          return true;
        }
        return b >= 0x20;
      case kJEscape:
        if (b == 'u') {
          json_ = kJHex;
          hex_left_ = 4;
          return true;
        }
        json_ = kJString;
        return std::string_view("\"\\/bfnrt").find(static_cast<char>(b)) != std::string_view::npos;
      case kJHex:
        if (!IsHex(b)) return false;
        if (--hex_left_ == 0) json_ = kJString;
        return true;
      case kJMinus:
        if (!IsDigit(b)) return false;
        json_ = b == '0' ? kJZero : kJInt;
        return true;
      case kJDot:
        if (!IsDigit(b)) return false;
        json_ = kJFrac;
        return true;
      case kJExpSign:
        if (!IsDigit(b)) return false;
        json_ = kJExp;
        return true;
      case kJExpMark:
        if (b == '+' || b == '-') {
          json_ = kJExpSign;
          return true;
        }
        if (!IsDigit(b)) return false;
        json_ = kJExp;
        return true;
      case kJZero:
      case kJInt:
      case kJFrac:
      case kJExp:
        if (IsDigit(b) && json_ != kJZero) return true;
        if (b == '.' && (json_ == kJZero || json_ == kJInt)) {
          json_ = kJDot;
          return true;
        }
        if ((b == 'e' || b == 'E') && json_ != kJExp) {
          json_ = kJExpMark;
          return true;
        }
        // The number ended; `b` belongs to what follows it.
        value_ended();
        if (*done) {
          *consumed = false;
          return true;
        }
        continue;
      case kJLiteral: {
        const std::string_view lit = kJsonLiterals[literal_];
        if (b != static_cast<unsigned char>(lit[literal_pos_])) return false;
        if (++literal_pos_ == lit.size()) value_ended();
        return true;
      }
      case kJAfterValue: {
        if (IsJsonSpace(b)) return true;
        const char open = stack_[depth_ - 1];
        if (b == ',') {
          json_ = open == '{' ? kJKey : kJValue;
          return true;
        }
        if ((b == '}' && open == '{') || (b == ']' && open == '[')) {
          --depth_;
          value_ended();
          return true;
        }
        return false;
      }
      case kJKeyOrEnd:
      case kJKey:
        if (IsJsonSpace(b)) return true;
        if (b == '}' && json_ == kJKeyOrEnd) {
          --depth_;
          value_ended();
          return true;
        }
        if (b != '"') return false;
        json_ = kJString;
        json_key_ = true;
        return true;
      case kJColon:
        if (IsJsonSpace(b)) return true;
        if (b != ':') return false;
        json_ = kJValue;
        return true;
      case kJArrayStart:
        if (IsJsonSpace(b)) return true;
        if (b == ']') {
          --depth_;
          value_ended();
          return true;
        }
        json_ = kJValue;
        continue;
    }
    return false;
  }
}

bool DsmlGrammar::FeedByte(unsigned char b) {
  switch (state_) {
    case State::kReasoning:
    case State::kText:
    case State::kRawValue:
      return FeedFreeText(b);
    case State::kChoice:
      return FeedChoice(b);
    case State::kFreeName:
      if (b == '"') {
        if (free_name_len_ == 0) return false;
        for (uint32_t i = 0; i < free_count_; ++i) {
          if (free_names_[i] == free_hash_) return false;  // the parser rejects duplicates
        }
        free_names_[free_count_++] = free_hash_;
        StartChoice(Choice::kFreeKind);
        return true;
      }
      if (b == '<' || b == '>' || b == '\n') return false;
      ++free_name_len_;
      free_hash_ = Fnv1a(free_hash_, b);
      return true;
    case State::kJsonValue: {
      // Inside JSON strings, the DSML marker and EOS text would confuse the parser.
      if (tail_len_ == tail_.size()) {
        std::copy(tail_.begin() + 1, tail_.end(), tail_.begin());
        --tail_len_;
      }
      tail_[tail_len_++] = static_cast<char>(b);
      const std::string_view tail(tail_.data(), tail_len_);
      for (std::string_view bad :
           {std::string_view(tokens::kDsml), std::string_view(tokens::kEos)}) {
        if (tail.size() >= bad.size() && tail.substr(tail.size() - bad.size()) == bad) return false;
      }
      bool done = false, consumed = true;
      if (!FeedJson(b, &done, &consumed)) return false;
      if (done) {
        StartChoice(Choice::kCloseParam);
        if (!consumed) return FeedChoice(b);
      }
      return true;
    }
    case State::kEnd:
      return false;
  }
  return false;
}

}  // namespace dsagent::engine
