// A byte-level grammar of what a V4 reply may be when the request constrains it (tool_choice):
// either a well-formed DSML tool-call block (`required` / `any` / a named tool), or text without
// any DSML (`none`). Constrained decoding (engine/generate/output_constraint.h) asks it, token by
// token, whether the token's bytes keep the reply inside the grammar and masks the rest.
//
// Tool-call mode accepts exactly what the V4 encoder writes (and the DSML parser reads):
//   [reasoning</think>]                         thinking mode: free text, then the close tag
//   \n\n<｜DSML｜tool_calls>\n                   forced: no text before the calls
//   <｜DSML｜invoke name="NAME">\n               NAME: one of the offered tools (or the named one)
//   <｜DSML｜parameter name="K" string="S">V</｜DSML｜parameter>   joined with \n, then
//   \n</｜DSML｜invoke>                          allowed once every required parameter is there
//   (\n<｜DSML｜invoke ... another call, unless single_call) \n</｜DSML｜tool_calls>  then EOS.
// Parameters follow the tool's JSON schema where it says something: K is one of `properties`
// (each at most once; any name when the schema lists none and allows more); S is "true" for
// `type: string`, "false" otherwise; V is raw text for string="true", a JSON value for
// string="false" (so the arguments the parser builds are always a valid JSON object), and one of
// the values for `enum` or `type: boolean`. Raw text never contains "｜DSML｜" or EOS.
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

struct DsmlParamSpec {
  std::string name;
  enum class Value { kAny, kRawString, kJson, kOneOf } value = Value::kAny;
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
  enum class Mode { kToolCall, kNoTools } mode = Mode::kToolCall;
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
  // Whether the reply may end here (EOS): after the tool-call block; anywhere in kNoTools mode.
  bool MayEnd() const;
  // Whether the tool-call block is complete (only EOS may follow).
  bool Complete() const { return state_ == State::kEnd; }
  bool InReasoning() const { return state_ == State::kReasoning; }

 private:
  enum class State : uint8_t {
    kReasoning,  // free text up to </think>
    kText,       // kNoTools: free text without DSML
    kChoice,     // one of the strings of choice_ (prefix-free)
    kFreeName,   // a parameter name the schema does not list
    kRawValue,   // raw text up to </｜DSML｜parameter>
    kJsonValue,  // a JSON value, then </｜DSML｜parameter>
    kEnd,        // after </｜DSML｜tool_calls>
  };
  enum class Choice : uint8_t {
    kOpen,         // "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\""
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
  std::array<char, 32> stack_{};  // '{' or '['
  uint32_t depth_ = 0;
  uint8_t json_ = 0;     // sub-state, see dsml_grammar.cc
  uint8_t literal_ = 0;  // which of true/false/null
  uint8_t literal_pos_ = 0;
  uint8_t hex_left_ = 0;
  bool json_key_ = false;  // the open string is an object key
};

}  // namespace dsagent::engine
