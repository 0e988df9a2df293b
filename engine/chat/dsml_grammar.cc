#include "engine/chat/dsml_grammar.h"

#include "common/name_table.h"
#include "engine/chat/chat_encoding.h"

namespace dsagent::engine {
namespace {

// The block's opening and its first invoke: forced together.
constexpr std::string_view kOpenBlock = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"";
static_assert(kOpenBlock.substr(0, dsml::kToolsOpen.size()) == dsml::kToolsOpen &&
              kOpenBlock.substr(dsml::kToolsOpen.size()) == dsml::kInvokeOpen);
// Auto mode: the text's "\n\n<｜DSML｜" commits to a block; the rest of the opening is forced.
constexpr std::string_view kAutoBlockStart =
    kOpenBlock.substr(0, std::string_view("\n\n<").size() + std::string_view(tokens::kDsml).size());
constexpr std::string_view kOpenRest = kOpenBlock.substr(kAutoBlockStart.size());
static_assert(kAutoBlockStart == "\n\n<｜DSML｜");
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
  kJOneOf,       // one of a node's listed values (enum, const)
};
using Kind = DsmlJsonNode::Kind;
constexpr uint16_t kAnyNode = DsmlJsonNode::kAnyNode;
constexpr std::string_view kJsonLiterals[] = {"true", "false", "null"};

bool IsJsonSpace(unsigned char b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool IsDigit(unsigned char b) { return b >= '0' && b <= '9'; }
bool IsHex(unsigned char b) {
  return IsDigit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

bool NameFitsDsml(const std::string& name) {
  return !name.empty() && name.find_first_of("\"<>\n") == std::string::npos;
}

// Nested schemas are followed this deep, with at most this many nodes per parameter; past that a
// value is free JSON.
constexpr int kMaxSchemaDepth = 16;
constexpr size_t kMaxSchemaNodes = 512;

std::string SchemaType(const OrderedJson& schema) {
  return schema.is_object() && schema.contains("type") && schema["type"].is_string()
             ? schema["type"].get<std::string>()
             : "";
}

// A property name the key matcher can compare byte for byte (JSON writes it without escapes).
bool PlainKey(const std::string& key) {
  for (const unsigned char c : key) {
    if (c < 0x20 || c == '"' || c == '\\') return false;
  }
  return true;
}

// The compact JSON of enum/const values; empty when one holds the DSML marker (the grammar keeps
// the marker out of JSON values, so such a value could never be written).
std::vector<std::string> OneOfJson(const OrderedJson& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    out.push_back(CanonicalJson(Json::parse(v.dump())));
    if (out.back().find(tokens::kDsml) != std::string::npos) return {};
  }
  return out;
}

// JSON Schema's type names and the node kinds that hold a value to them; any other type leaves
// the value free JSON.
constexpr EnumName<DsmlJsonNode::Kind> kSchemaTypeKinds[] = {
    {DsmlJsonNode::Kind::kString, "string"}, {DsmlJsonNode::Kind::kInteger, "integer"},
    {DsmlJsonNode::Kind::kNumber, "number"}, {DsmlJsonNode::Kind::kBoolean, "boolean"},
    {DsmlJsonNode::Kind::kNull, "null"},     {DsmlJsonNode::Kind::kArray, "array"},
    {DsmlJsonNode::Kind::kObject, "object"}};

uint16_t CompileJsonNode(const OrderedJson& schema, std::vector<DsmlJsonNode>* nodes, int depth) {
  if (!schema.is_object() || depth > kMaxSchemaDepth || nodes->size() >= kMaxSchemaNodes) {
    return kAnyNode;
  }
  DsmlJsonNode node;
  const std::string type = SchemaType(schema);
  if (schema.contains("const")) {
    node.kind = Kind::kOneOf;
    node.one_of = OneOfJson(OrderedJson::array({schema["const"]}));
  } else if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty()) {
    node.kind = Kind::kOneOf;
    node.one_of = OneOfJson(schema["enum"]);
  } else if (const std::optional<Kind> kind = ValueNamed(kSchemaTypeKinds, type)) {
    node.kind = *kind;
  } else {
    return kAnyNode;
  }
  if (node.kind == Kind::kOneOf && node.one_of.empty()) return kAnyNode;
  const auto index = static_cast<uint16_t>(nodes->size());
  nodes->push_back(std::move(node));
  if ((*nodes)[index].kind == Kind::kArray && schema.contains("items")) {
    const uint16_t items = CompileJsonNode(schema["items"], nodes, depth + 1);
    (*nodes)[index].items = items;
  }
  if ((*nodes)[index].kind == Kind::kObject && schema.contains("properties") &&
      schema["properties"].is_object() && schema["properties"].size() <= 64) {
    std::vector<std::pair<std::string, uint16_t>> properties;
    bool plain = true;
    for (const auto& [key, child] : schema["properties"].items()) {
      plain = plain && PlainKey(key);
      properties.emplace_back(key, CompileJsonNode(child, nodes, depth + 1));
    }
    // Keys that need escapes cannot be matched byte for byte: such an object takes any keys.
    if (plain) {
      DsmlJsonNode& object = (*nodes)[index];
      object.properties = std::move(properties);
      object.closed =
          schema.contains("additionalProperties") && schema["additionalProperties"] == false;
      if (schema.contains("required") && schema["required"].is_array()) {
        for (const auto& r : schema["required"]) {
          for (size_t i = 0; i < object.properties.size(); ++i) {
            if (r.is_string() && r.get<std::string>() == object.properties[i].first) {
              object.required |= uint64_t{1} << i;
            }
          }
        }
      }
    }
  }
  return index;
}

DsmlParamSpec ParamSpec(const std::string& name, const OrderedJson& schema) {
  DsmlParamSpec p;
  p.name = name;
  const std::string head = std::string(kParamTag) + name + "\"";
  p.open_raw = head + std::string(kKindRaw);
  p.open_json = head + std::string(kKindJson);
  const std::string type = SchemaType(schema);
  const auto one_of = [&p](const std::vector<std::string>& values, bool raw) {
    p.value = DsmlParamSpec::Value::kOneOf;
    p.raw_one_of = raw;
    for (const auto& v : values) p.one_of_closed.push_back(v + std::string(kParamClose));
  };
  const bool has_const = schema.is_object() && schema.contains("const");
  if (has_const || (schema.is_object() && schema.contains("enum") && schema["enum"].is_array() &&
                    !schema["enum"].empty())) {
    const OrderedJson values = has_const ? OrderedJson::array({schema["const"]}) : schema["enum"];
    bool all_strings = true;
    std::vector<std::string> texts, json;
    for (const auto& v : values) {
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
    if (CompileJsonNode(schema, &p.json, 0) == kAnyNode) p.json.clear();
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
  } else if (spec.mode != DsmlGrammarSpec::Mode::kToolCall) {
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
  switch (spec_->mode) {
    case DsmlGrammarSpec::Mode::kNoTools:
      return true;
    case DsmlGrammarSpec::Mode::kAuto:
      return state_ == State::kReasoning || state_ == State::kText || state_ == State::kEnd;
    case DsmlGrammarSpec::Mode::kToolCall:
      break;
  }
  return state_ == State::kEnd;
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
    nodes_ = p.json.empty() ? nullptr : &p.json;
    value_node_ = p.json.empty() ? kAnyNode : 0;
  }
}

size_t DsmlGrammar::CandidateCount() const {
  switch (choice_) {
    case Choice::kOpen:
    case Choice::kOpenRest:
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
    case Choice::kOpenRest:
      return {true, false, kOpenRest};
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
    case Choice::kOpenRest:
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
        nodes_ = nullptr;
        value_node_ = kAnyNode;
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
        if (spec_->mode != DsmlGrammarSpec::Mode::kToolCall) {
          state_ = State::kText;
        } else {
          StartChoice(Choice::kOpen);
        }
      }
      return true;
    case State::kText:
      for (const char* bad : {tokens::kBos, tokens::kThink, tokens::kEndThink}) {
        if (ends_with(bad)) return false;
      }
      if (!ends_with(tokens::kDsml)) return true;
      // The parser reads a block only where "\n\n<｜DSML｜tool_calls" starts it.
      if (spec_->mode != DsmlGrammarSpec::Mode::kAuto || !ends_with(kAutoBlockStart)) return false;
      tail_len_ = 0;
      StartChoice(Choice::kOpenRest);
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

const DsmlJsonNode* DsmlGrammar::Node(uint16_t index) const {
  if (nodes_ == nullptr || index == kAnyNode || index >= nodes_->size()) return nullptr;
  return &(*nodes_)[index];
}

bool DsmlGrammar::ObjectMayClose() const {
  const DsmlJsonNode* n = Node(frame_node_[depth_ - 1]);
  return n == nullptr || (frame_used_[depth_ - 1] & n->required) == n->required;
}

bool DsmlGrammar::ObjectMayTakeKey() const {
  const DsmlJsonNode* n = Node(frame_node_[depth_ - 1]);
  if (n == nullptr || !n->closed) return true;
  const size_t count = n->properties.size();
  const uint64_t all = count == 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
  return (frame_used_[depth_ - 1] & all) != all;
}

// A byte of an object key (not its quotes): it must keep the key a prefix of a property not yet
// written, unless the object takes other keys too (the key is then free from here on).
bool DsmlGrammar::FeedKeyByte(unsigned char b) {
  const DsmlJsonNode* n = Node(frame_node_[depth_ - 1]);
  if (n == nullptr || key_free_) {
    ++key_len_;
    return true;
  }
  const std::string* current =
      key_candidate_ < n->properties.size() ? &n->properties[key_candidate_].first : nullptr;
  for (size_t j = 0; j < n->properties.size(); ++j) {
    const std::string& name = n->properties[j].first;
    if (n->closed && (frame_used_[depth_ - 1] >> j & 1) != 0) continue;
    if (name.size() <= key_len_ || static_cast<unsigned char>(name[key_len_]) != b) continue;
    if (j != key_candidate_ &&
        (current == nullptr || name.compare(0, key_len_, *current, 0, key_len_) != 0)) {
      continue;
    }
    key_candidate_ = static_cast<uint16_t>(j);
    ++key_len_;
    return true;
  }
  if (n->closed) return false;
  key_free_ = true;
  ++key_len_;
  return true;
}

// The key's closing quote: which property it names (its value's node), at most once each.
bool DsmlGrammar::EndKey() {
  value_node_ = kAnyNode;
  const DsmlJsonNode* n = Node(frame_node_[depth_ - 1]);
  if (n == nullptr || n->properties.empty()) return n == nullptr || !n->closed;
  if (!key_free_ && key_candidate_ < n->properties.size()) {
    const std::string& current = n->properties[key_candidate_].first;
    for (size_t j = 0; j < n->properties.size(); ++j) {
      const std::string& name = n->properties[j].first;
      if (name.size() != key_len_ || name.compare(0, key_len_, current, 0, key_len_) != 0) {
        continue;
      }
      if ((frame_used_[depth_ - 1] >> j & 1) != 0) return false;  // a key twice
      frame_used_[depth_ - 1] |= uint64_t{1} << j;
      value_node_ = n->properties[j].second;
      return true;
    }
  }
  return !n->closed;
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
  // The node of the innermost array's elements.
  const auto items = [this]() {
    const DsmlJsonNode* n = Node(frame_node_[depth_ - 1]);
    return n == nullptr ? kAnyNode : n->items;
  };
  while (true) {
    switch (json_) {
      case kJValue: {
        if (IsJsonSpace(b)) return depth_ > 0;
        const DsmlJsonNode* node = Node(value_node_);
        const Kind kind = node == nullptr ? Kind::kAny : node->kind;
        if (kind == Kind::kOneOf) {
          json_ = kJOneOf;
          one_of_node_ = value_node_;
          one_of_candidate_ = 0;
          one_of_len_ = 0;
          continue;
        }
        const auto allowed = [kind](Kind k) { return kind == Kind::kAny || kind == k; };
        integer_only_ = kind == Kind::kInteger;
        if (b == '{' || b == '[') {
          if (!allowed(b == '{' ? Kind::kObject : Kind::kArray)) return false;
          if (depth_ == stack_.size()) return false;
          frame_node_[depth_] = node == nullptr ? kAnyNode : value_node_;
          frame_used_[depth_] = 0;
          stack_[depth_++] = static_cast<char>(b);
          json_ = b == '{' ? kJKeyOrEnd : kJArrayStart;
          return true;
        }
        if (b == '"') {
          if (!allowed(Kind::kString)) return false;
          json_ = kJString;
          json_key_ = false;
          return true;
        }
        if (b == '-' || IsDigit(b)) {
          if (!allowed(Kind::kNumber) && kind != Kind::kInteger) return false;
          json_ = b == '-' ? kJMinus : b == '0' ? kJZero : kJInt;
          return true;
        }
        for (uint8_t i = 0; i < 3; ++i) {
          if (b == static_cast<unsigned char>(kJsonLiterals[i][0])) {
            if (!allowed(i == 2 ? Kind::kNull : Kind::kBoolean)) return false;
            json_ = kJLiteral;
            literal_ = i;
            literal_pos_ = 1;
            return true;
          }
        }
        return false;
      }
      case kJString:
        if (b == '"') {
          if (json_key_) {
            if (!EndKey()) return false;
            json_ = kJColon;
          } else {
            value_ended();
          }
          return true;
        }
        if (b < 0x20) return false;
        if (json_key_) {
          if (b == '\\') {  // an escaped key is none of the (plain) property names
            const DsmlJsonNode* n = Node(frame_node_[depth_ - 1]);
            if (n != nullptr && n->closed) return false;
            key_free_ = true;
          } else if (!FeedKeyByte(b)) {
            return false;
          }
        }
        if (b == '\\') json_ = kJEscape;
        return true;
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
        if (b == '.' && (json_ == kJZero || json_ == kJInt) && !integer_only_) {
          json_ = kJDot;
          return true;
        }
        if ((b == 'e' || b == 'E') && json_ != kJExp && !integer_only_) {
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
      case kJOneOf: {
        const std::vector<std::string>& values = Node(one_of_node_)->one_of;
        const std::string& current = values[one_of_candidate_];
        const auto same_start = [&](size_t j) {
          return j == one_of_candidate_ ||
                 values[j].compare(0, one_of_len_, current, 0, one_of_len_) == 0;
        };
        for (size_t j = 0; j < values.size(); ++j) {
          if (values[j].size() > one_of_len_ &&
              static_cast<unsigned char>(values[j][one_of_len_]) == b && same_start(j)) {
            one_of_candidate_ = static_cast<uint16_t>(j);
            ++one_of_len_;
            return true;
          }
        }
        // `b` extends no value: the value ended here if one is complete.
        bool complete = false;
        for (size_t j = 0; j < values.size() && !complete; ++j) {
          complete = values[j].size() == one_of_len_ && same_start(j);
        }
        if (!complete || one_of_len_ == 0) return false;
        value_ended();
        if (*done) {
          *consumed = false;
          return true;
        }
        continue;
      }
      case kJAfterValue: {
        if (IsJsonSpace(b)) return true;
        const char open = stack_[depth_ - 1];
        if (b == ',') {
          if (open == '{') {
            if (!ObjectMayTakeKey()) return false;
            json_ = kJKey;
          } else {
            value_node_ = items();
            json_ = kJValue;
          }
          return true;
        }
        if ((b == '}' && open == '{' && ObjectMayClose()) || (b == ']' && open == '[')) {
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
          if (!ObjectMayClose()) return false;
          --depth_;
          value_ended();
          return true;
        }
        if (b != '"' || !ObjectMayTakeKey()) return false;
        json_ = kJString;
        json_key_ = true;
        key_candidate_ = 0;
        key_len_ = 0;
        key_free_ = false;
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
        value_node_ = items();
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
