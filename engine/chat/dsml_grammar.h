// A byte-level grammar of what a V4 reply may be when the request constrains it (tool_choice):
// a well-formed DSML tool-call block (`required` / `any` / a named tool), text without any DSML
// (`none`), or text that may end in a tool-call block (`auto`: once the model starts the block,
// the rest of it follows the same rules as a required call). Constrained decoding
// (engine/generate/output_constraint.h) asks it, token by token, whether the token's bytes keep the
// reply inside the grammar and masks the rest.
//
// Tool-call mode accepts exactly what the V4 encoder writes (and the DSML parser reads):
//   [reasoning</think>]                         thinking mode: free text, then the close tag
//   \n\n<｜DSML｜tool_calls>\n                   forced: no text before the calls
//   <｜DSML｜invoke name="NAME">\n               NAME: one of the offered tools (or the named one)
//   <｜DSML｜parameter name="K" string="S">V</｜DSML｜parameter>   joined with \n, then
//   \n</｜DSML｜invoke>                          allowed once every required parameter is there
//   (\n<｜DSML｜invoke ... another call, unless single_call) \n</｜DSML｜tool_calls>  then EOS.
// Auto mode: free text (no special tokens, "｜DSML｜" only as the start of a block) that may end
// with EOS, or that continues "\n\n<｜DSML｜" into the block above, which must then complete.
// Parameters follow the tool's JSON schema where it says something: K is one of `properties`
// (each at most once; any name when the schema lists none and allows more); S is "true" for
// `type: string`, "false" otherwise; V is raw text for string="true", a JSON value for
// string="false" (so the arguments the parser builds are always a valid JSON object), and one of
// the values for `enum`, `const` or `type: boolean`. A JSON value follows its schema as deep as
// the schema goes (DsmlJsonNode): `type` (integer: no fraction or exponent; number; string;
// boolean; null; array; object), `enum` and `const` at any depth, array `items`, and object
// `properties` (each key at most once), `required` (the object cannot close without them) and
// `additionalProperties: false` (no other keys). Other keywords (anyOf, type lists, minimum,
// pattern, ...) leave that value free JSON. Raw text never contains "｜DSML｜" or EOS.
//
// Not thread-safe; copying is cheap (a few fixed-size fields), which is how callers test a token
// without committing to it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "common/json.h"
#include "engine/chat/python_json.h"

namespace dsagent::engine {

// One node of a JSON value's schema, as the grammar enforces it (see the header comment).
struct DsmlJsonNode {
  static constexpr uint16_t kAnyNode = 0xFFFF;  // a child without a schema: any JSON
  enum class Kind : uint8_t {
    kAny,
    kString,
    kInteger,
    kNumber,
    kBoolean,
    kNull,
    kArray,
    kObject,
    kOneOf
  } kind = Kind::kAny;
  uint16_t items = kAnyNode;                                 // kArray: the elements' node
  std::vector<std::pair<std::string, uint16_t>> properties;  // kObject: key -> node (<= 64)
  uint64_t required = 0;                                     // kObject: bit i: properties[i]
  bool closed = false;                                       // kObject: additionalProperties false
  std::vector<std::string> one_of;  // kOneOf: the allowed values as compact JSON
};

struct DsmlParamSpec {
  std::string name;
  enum class Value { kAny, kRawString, kJson, kOneOf } value = Value::kAny;
  // kJson: the value's schema, root first (empty: any JSON).
  std::vector<DsmlJsonNode> json;
  bool raw_one_of = false;  // kOneOf: string="true" (an enum of strings), else "false"
  // Precomputed by DsmlToolSpecs: the opening tags with string="true" / "false", and for kOneOf
  // each allowed value followed by the closing tag.
  std::string open_raw, open_json;
  std::vector<std::string> one_of_closed;
};

struct DsmlToolSpec {
  std::string name;
  std::string invoke_tag;             // NAME">\n (what follows `invoke name="`)
  std::vector<DsmlParamSpec> params;  // from `properties`, in schema order (at most 64)
  uint64_t required = 0;              // bit i: params[i] must appear
  bool any_params = false;            // the schema lists no properties: any names
};

struct DsmlGrammarSpec {
  enum class Mode { kToolCall, kNoTools, kAuto } mode = Mode::kToolCall;
  bool thinking = false;     // the reply starts inside <think>
  bool single_call = false;  // exactly one invoke (parallel tool calls off)
  std::vector<DsmlToolSpec> tools;
};

// Tool specs from an OpenAI tools array ([{type: function, function: {name, parameters}}]);
// `only`: keep just that tool. Error: a tool name the DSML cannot carry (empty, or with '"',
// '<', '>' or a newline), too many parameters, or `only` not among the tools.
Expected<std::vector<DsmlToolSpec>, std::string> DsmlToolSpecs(const OrderedJson& tools,
                                                               const std::string& only = "");

class DsmlGrammar {
 public:
  // `spec` must outlive the grammar and its copies.
  explicit DsmlGrammar(const DsmlGrammarSpec& spec);

  // Feeds bytes. True when they keep the text inside the grammar; false otherwise (the grammar
  // is then unusable: test on a copy).
  bool Feed(std::string_view bytes);
  // Whether the first byte of a continuation can be `b` (a cheap pre-filter for masking).
  bool AcceptsByte(unsigned char b) const;
  // Whether the reply may end here (EOS): after the tool-call block; anywhere in kNoTools mode;
  // in kAuto mode anywhere outside a started block.
  bool MayEnd() const;
  // Whether the tool-call block is complete (only EOS may follow).
  bool Complete() const { return state_ == State::kEnd; }
  bool InReasoning() const { return state_ == State::kReasoning; }

 private:
  enum class State : uint8_t {
    kReasoning,  // free text up to </think>
    kText,       // kNoTools, kAuto: free text without DSML (kAuto: up to a block's start)
    kChoice,     // one of the strings of choice_ (prefix-free)
    kFreeName,   // a parameter name the schema does not list
    kRawValue,   // raw text up to </｜DSML｜parameter>
    kJsonValue,  // a JSON value, then </｜DSML｜parameter>
    kEnd,        // after </｜DSML｜tool_calls>
  };
  enum class Choice : uint8_t {
    kOpen,         // "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\""
    kOpenRest,     // kAuto, after "\n\n<｜DSML｜" in the text: the rest of kOpen
    kToolName,     // NAME">\n
    kParamOrEnd,   // [\n]<｜DSML｜parameter name="K" string="S"> | \n</｜DSML｜invoke>
    kFreeKind,     // " string=\"true\">" | " string=\"false\">"
    kOneOfValue,   // V</｜DSML｜parameter>
    kCloseParam,   // </｜DSML｜parameter>
    kAfterInvoke,  // \n<｜DSML｜invoke name=" | \n</｜DSML｜tool_calls>
  };
  // Candidates of the current choice: an optional "\n" then `core`; `ok` false when candidate i
  // is not available now (a parameter already written, the invoke's end before a required one).
  struct Candidate {
    bool ok = false;
    bool newline = false;
    std::string_view core;
    size_t size() const { return core.size() + (newline ? 1 : 0); }
    char at(size_t i) const { return newline ? (i == 0 ? '\n' : core[i - 1]) : core[i]; }
  };
  size_t CandidateCount() const;
  Candidate CandidateAt(size_t i) const;
  bool FeedByte(unsigned char b);
  bool FeedChoice(unsigned char b);
  void Chose(size_t i);
  bool FeedFreeText(unsigned char b);
  bool FeedJson(unsigned char b, bool* done, bool* consumed);
  bool FeedKeyByte(unsigned char b);
  bool EndKey();
  const DsmlJsonNode* Node(uint16_t index) const;  // null for kAnyNode (or no schema)
  bool ObjectMayClose() const;                     // the innermost object has its required keys
  bool ObjectMayTakeKey() const;                   // ... and a key is still possible
  void StartChoice(Choice c);
  void StartValue(size_t param);  // after the parameter's opening tag
  const DsmlToolSpec& tool() const { return spec_->tools[tool_]; }

  const DsmlGrammarSpec* spec_;
  State state_;
  Choice choice_ = Choice::kOpen;
  uint32_t matched_ = 0;    // bytes of the current choice matched so far
  uint32_t candidate_ = 0;  // a candidate consistent with those bytes
  uint32_t tool_ = 0;       // the invoke's tool
  uint32_t param_ = 0;      // the parameter being written
  uint32_t params_written_ = 0;
  uint64_t used_ = 0;                      // parameters written (bit i: tool().params[i])
  uint32_t free_name_len_ = 0;             // bytes of the free parameter name so far
  uint64_t free_hash_ = 0;                 // FNV-1a of the free parameter name so far
  std::array<uint64_t, 16> free_names_{};  // hashes of the free names written (no duplicates)
  uint32_t free_count_ = 0;
  // Free text: the last bytes seen (for markers that span tokens).
  std::array<char, 48> tail_{};
  uint32_t tail_len_ = 0;
  // JSON value matcher (kJsonValue).
  static constexpr size_t kMaxJsonDepth = 32;
  std::array<char, kMaxJsonDepth> stack_{};  // '{' or '['
  uint32_t depth_ = 0;
  // The schema node of each open container and, for objects, the properties written so far.
  std::array<uint16_t, kMaxJsonDepth> frame_node_{};
  std::array<uint64_t, kMaxJsonDepth> frame_used_{};
  const std::vector<DsmlJsonNode>* nodes_ = nullptr;  // the value's schema (null: any JSON)
  uint16_t value_node_ = DsmlJsonNode::kAnyNode;      // the node of the value about to start
  uint16_t key_candidate_ = 0;  // an object key: a property consistent with the bytes so far
  uint16_t key_len_ = 0;        // bytes of the key so far
  bool key_free_ = false;       // the key is none of the properties (open objects only)
  bool integer_only_ = false;   // the number being read must be an integer
  uint16_t one_of_node_ = 0;    // kJOneOf: the node, a consistent value and the bytes matched
  uint16_t one_of_candidate_ = 0;
  uint16_t one_of_len_ = 0;
  uint8_t json_ = 0;     // sub-state, see dsml_grammar.cc
  uint8_t literal_ = 0;  // which of true/false/null
  uint8_t literal_pos_ = 0;
  uint8_t hex_left_ = 0;
  bool json_key_ = false;  // the open string is an object key
};

}  // namespace dsagent::engine
