// The DSML grammar accepts what the V4 encoder writes for a tool call (and the parser reads), and
// rejects everything that would leave the call malformed or off the tool's schema.
#include "engine/chat/dsml_grammar.h"

#include <gtest/gtest.h>

#include "engine/chat/dsml_parser.h"

namespace dsagent::engine {
namespace {

const OrderedJson kGrammarTools = OrderedJson::parse(R"([
  {"type": "function", "function": {"name": "read", "parameters": {"type": "object",
     "properties": {"path": {"type": "string"}, "limit": {"type": "number"}, "extra": {}},
     "required": ["path"]}}},
  {"type": "function", "function": {"name": "set_mode", "parameters": {"type": "object",
     "properties": {"on": {"type": "boolean"}, "level": {"enum": ["low", "high"]}},
     "required": ["on"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "free", "parameters": {"type": "object"}}}])");

DsmlGrammarSpec Spec(bool single = false, const std::string& only = "") {
  DsmlGrammarSpec spec;
  auto tools = DsmlToolSpecs(kGrammarTools, only);
  EXPECT_TRUE(tools) << tools.error();
  spec.tools = *tools;
  spec.single_call = single;
  return spec;
}

bool Accepts(const DsmlGrammarSpec& spec, std::string_view text, bool* complete = nullptr) {
  DsmlGrammar g(spec);
  const bool ok = g.Feed(text);
  if (complete) *complete = ok && g.Complete();
  return ok;
}

constexpr std::string_view kReadCall =
    "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read\">\n"
    "<｜DSML｜parameter name=\"path\" string=\"true\">a \"b\".txt</｜DSML｜parameter>\n"
    "<｜DSML｜parameter name=\"limit\" string=\"false\">-12.5e+3</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

TEST(DsmlGrammarTest, AcceptsTheEncodersToolCallAndTheParserReadsIt) {
  const DsmlGrammarSpec spec = Spec();
  bool complete = false;
  EXPECT_TRUE(Accepts(spec, kReadCall, &complete));
  EXPECT_TRUE(complete);
  auto parsed = ParseCompletion(std::string(kReadCall) + "<｜end▁of▁sentence｜>", false);
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_EQ(parsed->tool_calls.size(), 1u);
  EXPECT_EQ(Json::parse(parsed->tool_calls[0].arguments),
            Json::parse(R"({"path": "a \"b\".txt", "limit": -12.5e+3})"));
  // Fed in pieces of any size, the answer is the same.
  DsmlGrammar g(spec);
  for (const char c : kReadCall) ASSERT_TRUE(g.Feed(std::string_view(&c, 1)));
  EXPECT_TRUE(g.Complete());
  EXPECT_TRUE(g.MayEnd());
}

TEST(DsmlGrammarTest, ForcesTheOpeningAndKnownNames) {
  const DsmlGrammarSpec spec = Spec();
  EXPECT_FALSE(Accepts(spec, "Sure"));  // no text before the block
  EXPECT_FALSE(Accepts(spec, "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"rm\""));
  EXPECT_TRUE(Accepts(spec, "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"re"));
  // A parameter the schema does not list, or the wrong string= for its type.
  const std::string open = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read\">\n";
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"mode\""));
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"path\" string=\"false\""));
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"limit\" string=\"true\""));
  // The invoke cannot end before its required parameter.
  EXPECT_FALSE(Accepts(spec, open + "\n</｜DSML｜invoke>"));
  // A parameter at most once.
  const std::string path = "<｜DSML｜parameter name=\"path\" string=\"true\">x</｜DSML｜parameter>";
  EXPECT_TRUE(Accepts(spec, open + path + "\n</｜DSML｜invoke>"));
  EXPECT_FALSE(Accepts(spec, open + path + "\n" + path));
  // EOS is never text, and DSML never appears inside a raw value.
  EXPECT_FALSE(Accepts(
      spec, open + "<｜DSML｜parameter name=\"path\" string=\"true\">a<｜end▁of▁sentence｜>"));
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"path\" string=\"true\">a<｜DSML｜"));
}

TEST(DsmlGrammarTest, JsonValuesMustBeJson) {
  const DsmlGrammarSpec spec = Spec();
  // `extra` has a schema without a type: any JSON value.
  const std::string limit =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read\">\n"
      "<｜DSML｜parameter name=\"extra\" string=\"false\">";
  for (const char* good :
       {"0", "[]", "[1, {\"a\": [true, null]}]", "{}", "\"x\\u00e9\\n\"", "{\"k\" : \"v\"}"}) {
    EXPECT_TRUE(Accepts(spec, limit + good + "</｜DSML｜parameter>")) << good;
  }
  for (const char* bad :
       {"01", "1.", "tru", "[1,]", "{\"a\"}", "'x'", " 1", "\"a\nb\"", "{]", "1 2", "--1", "nul"}) {
    EXPECT_FALSE(Accepts(spec, limit + bad + "</｜DSML｜parameter>")) << bad;
  }
}

TEST(DsmlGrammarTest, EnumsAndBooleansAreOneOfTheirValues) {
  const DsmlGrammarSpec spec = Spec();
  const std::string open = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"set_mode\">\n";
  bool complete = false;
  EXPECT_TRUE(
      Accepts(spec,
              open + "<｜DSML｜parameter name=\"on\" string=\"false\">true</｜DSML｜parameter>\n"
                     "<｜DSML｜parameter name=\"level\" string=\"true\">high</｜DSML｜parameter>\n"
                     "</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
              &complete));
  EXPECT_TRUE(complete);
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"on\" string=\"false\">yes"));
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"level\" string=\"true\">mid"));
}

TEST(DsmlGrammarTest, SchemasWithoutPropertiesTakeAnyNameOnce) {
  const DsmlGrammarSpec spec = Spec();
  const std::string open = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"free\">\n";
  const std::string x = "<｜DSML｜parameter name=\"x\" string=\"false\">[1]</｜DSML｜parameter>";
  EXPECT_TRUE(Accepts(spec, open + "\n</｜DSML｜invoke>"));
  EXPECT_TRUE(Accepts(spec, open + x + "\n</｜DSML｜invoke>"));
  EXPECT_FALSE(Accepts(spec, open + x + "\n" + x));  // the parser rejects duplicates
  EXPECT_FALSE(Accepts(spec, open + "<｜DSML｜parameter name=\"\""));
}

TEST(DsmlGrammarTest, SingleCallAndNamedTool) {
  const std::string one =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"free\">\n\n</｜DSML｜invoke>\n";
  EXPECT_TRUE(Accepts(Spec(false), one + "<｜DSML｜invoke name=\"free\">"));
  EXPECT_FALSE(Accepts(Spec(true), one + "<｜DSML｜invoke name=\"free\">"));
  EXPECT_TRUE(Accepts(Spec(true), one + "</｜DSML｜tool_calls>"));
  EXPECT_FALSE(Accepts(Spec(false, "read"), one));  // only the named tool
  EXPECT_FALSE(DsmlToolSpecs(kGrammarTools, "nope"));
}

TEST(DsmlGrammarTest, ThinkingFirstThenTheBlock) {
  DsmlGrammarSpec spec = Spec();
  spec.thinking = true;
  EXPECT_TRUE(Accepts(spec, "Let me think <｜DSML｜ freely"));
  EXPECT_FALSE(Accepts(spec, "done<｜end▁of▁sentence｜>"));
  EXPECT_TRUE(Accepts(spec, "ok</think>\n\n<｜DSML｜tool_calls>"));
  EXPECT_FALSE(Accepts(spec, "ok</think>Answer"));
}

TEST(DsmlGrammarTest, NoToolsModeIsTextWithoutDsml) {
  DsmlGrammarSpec spec;
  spec.mode = DsmlGrammarSpec::Mode::kNoTools;
  spec.thinking = true;
  EXPECT_TRUE(Accepts(spec, "hmm</think>Plain answer."));
  EXPECT_FALSE(Accepts(spec, "hmm</think>\n\n<｜DSML｜tool_calls>"));
  EXPECT_FALSE(Accepts(spec, "hmm</think>a</think>"));
  DsmlGrammar g(spec);
  EXPECT_TRUE(g.MayEnd());
}

// A tool whose parameters exercise the nested schema checks.
const OrderedJson kSchemaTools = OrderedJson::parse(R"([
  {"type": "function", "function": {"name": "plan", "parameters": {"type": "object",
     "properties": {
       "count": {"type": "integer"},
       "ratio": {"type": "number"},
       "kind": {"const": "edit"},
       "version": {"const": 2},
       "tags": {"type": "array", "items": {"type": "string"}},
       "sizes": {"type": "array", "items": {"type": "integer"}},
       "modes": {"type": "array", "items": {"enum": ["r", "rw"]}},
       "target": {"type": "object", "additionalProperties": false,
                  "properties": {"path": {"type": "string"}, "line": {"type": "integer"},
                                 "flag": {"type": "boolean"}, "none": {"type": "null"}},
                  "required": ["path", "line"]},
       "meta": {"type": "object", "properties": {"id": {"type": "integer"}},
                "required": ["id"]},
       "loose": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}}}}])");

// The grammar after `<parameter name="NAME" string="false">`, fed `value` and the closing tag.
bool PlanParam(const std::string& name, const std::string& value, bool close = true) {
  DsmlGrammarSpec spec;
  auto tools = DsmlToolSpecs(kSchemaTools);
  EXPECT_TRUE(tools) << tools.error();
  spec.tools = *tools;
  const bool raw = name == "kind";
  const std::string text =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"plan\">\n"
      "<｜DSML｜parameter name=\"" +
      name + "\" string=\"" + (raw ? "true" : "false") + "\">" + value +
      (close ? "</｜DSML｜parameter>" : "");
  return Accepts(spec, text);
}

TEST(DsmlGrammarTest, IntegersHaveNoFractionOrExponentNumbersMay) {
  EXPECT_TRUE(PlanParam("count", "-42"));
  EXPECT_FALSE(PlanParam("count", "4.5"));
  EXPECT_FALSE(PlanParam("count", "4e2"));
  EXPECT_FALSE(PlanParam("count", "\"4\""));
  EXPECT_TRUE(PlanParam("ratio", "4.5e-2"));
  EXPECT_FALSE(PlanParam("ratio", "true"));
}

TEST(DsmlGrammarTest, ConstIsTheOnlyValue) {
  EXPECT_TRUE(PlanParam("kind", "edit"));  // a string const: string="true", raw
  EXPECT_FALSE(PlanParam("kind", "edits"));
  EXPECT_TRUE(PlanParam("version", "2"));
  EXPECT_FALSE(PlanParam("version", "3"));
  EXPECT_FALSE(PlanParam("version", "20"));
}

TEST(DsmlGrammarTest, ArrayItemsFollowTheirSchema) {
  EXPECT_TRUE(PlanParam("tags", "[\"a\", \"b\"]"));
  EXPECT_TRUE(PlanParam("tags", "[]"));
  EXPECT_FALSE(PlanParam("tags", "[\"a\", 1]"));
  EXPECT_FALSE(PlanParam("tags", "{\"a\": 1}"));  // not an array
  EXPECT_TRUE(PlanParam("sizes", "[1, -2, 30]"));
  EXPECT_FALSE(PlanParam("sizes", "[1, 2.5]"));
  EXPECT_TRUE(PlanParam("modes", "[\"rw\", \"r\"]"));
  EXPECT_FALSE(PlanParam("modes", "[\"w\"]"));
  EXPECT_FALSE(PlanParam("modes", "[\"rwx\"]"));
}

TEST(DsmlGrammarTest, NestedObjectsHaveTheirRequiredKeysAndNoOthersWhenClosed) {
  EXPECT_TRUE(PlanParam("target", "{\"path\": \"a.c\", \"line\": 3}"));
  EXPECT_TRUE(
      PlanParam("target", "{\"line\": 3, \"flag\": false, \"path\": \"\", \"none\": null}"));
  EXPECT_FALSE(PlanParam("target", "{\"path\": \"a.c\"}"));                // line is required
  EXPECT_FALSE(PlanParam("target", "{\"path\": \"a.c\", \"col\": 1"));     // closed: no col
  EXPECT_FALSE(PlanParam("target", "{\"path\": 1", false));                // path is a string
  EXPECT_FALSE(PlanParam("target", "{\"path\": \"a\", \"path\"", false));  // a key twice
  EXPECT_FALSE(PlanParam("target", "{\"line\": 1, \"path\": \"a\", \"flag\": 1", false));
  EXPECT_TRUE(PlanParam("target", "{\"pa", false));  // a prefix of a key is fine
  EXPECT_FALSE(PlanParam("target", "{\"px", false));
  // Open objects take other keys, but still need the required ones, typed.
  EXPECT_TRUE(PlanParam("meta", "{\"id\": 1, \"note\": [1, {\"x\": null}]}"));
  EXPECT_TRUE(PlanParam("meta", "{\"i\": 0, \"id\": 7}"));
  EXPECT_FALSE(PlanParam("meta", "{\"note\": \"x\"}"));
  EXPECT_FALSE(PlanParam("meta", "{\"id\": \"7\"", false));
  // Keywords the grammar does not follow leave the value free JSON.
  EXPECT_TRUE(PlanParam("loose", "{\"anything\": [true]}"));
}

TEST(DsmlGrammarTest, AClosedObjectWithEveryKeyWrittenTakesNoComma) {
  // Otherwise the model could write "," and then find no key it may write.
  const OrderedJson tools = OrderedJson::parse(R"([{"type": "function", "function": {
      "name": "f", "parameters": {"type": "object", "properties": {"o": {"type": "object",
      "properties": {"a": {"type": "integer"}}, "additionalProperties": false}}}}}])");
  DsmlGrammarSpec spec;
  spec.tools = *DsmlToolSpecs(tools);
  const std::string open =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
      "<｜DSML｜parameter name=\"o\" string=\"false\">{\"a\": 1";
  EXPECT_TRUE(Accepts(spec, open + "}"));
  EXPECT_FALSE(Accepts(spec, open + ","));
}

TEST(DsmlGrammarTest, AutoModeIsTextOrTextThenAWellFormedBlock) {
  DsmlGrammarSpec spec = Spec();
  spec.mode = DsmlGrammarSpec::Mode::kAuto;
  spec.thinking = true;
  bool complete = false;
  // Plain answers may end anywhere (reasoning included, as without a grammar).
  DsmlGrammar text(spec);
  EXPECT_TRUE(text.MayEnd());
  ASSERT_TRUE(text.Feed("hmm</think>Plain answer."));
  EXPECT_TRUE(text.MayEnd());
  // Text, then a call the model started on its own: accepted, and the parser reads it.
  const std::string answer = std::string("hmm</think>Reading it.") + std::string(kReadCall);
  EXPECT_TRUE(Accepts(spec, answer, &complete));
  EXPECT_TRUE(complete);
  auto parsed = ParseCompletion(answer + "<｜end▁of▁sentence｜>", true);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->content, "Reading it.");
  ASSERT_EQ(parsed->tool_calls.size(), 1u);
  // Once "\n\n<｜DSML｜" is written the block is committed: it must be well-formed and complete.
  DsmlGrammar started(spec);
  ASSERT_TRUE(started.Feed("</think>ok\n\n<｜DSML｜"));
  EXPECT_FALSE(started.MayEnd());
  EXPECT_FALSE(DsmlGrammar(started).Feed("invoke"));  // tool_calls> comes first
  ASSERT_TRUE(started.Feed("tool_calls>\n<｜DSML｜invoke name=\"re"));
  EXPECT_FALSE(DsmlGrammar(started).Feed("move\""));  // not a tool
  EXPECT_FALSE(Accepts(spec,
                       "</think>x\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read\">\n"
                       "\n</｜DSML｜invoke>"));  // the required path is missing
  // The DSML marker anywhere else, and special tokens, are not text.
  EXPECT_FALSE(Accepts(spec, "</think>see <｜DSML｜tool_calls>"));
  EXPECT_FALSE(Accepts(spec, "</think>a｜DSML｜"));
  EXPECT_FALSE(Accepts(spec, "</think>a</think>"));
  EXPECT_FALSE(Accepts(spec, "</think>a\n\n</｜DSML｜tool_calls>"));
  // After the block only EOS.
  DsmlGrammar done(spec);
  ASSERT_TRUE(done.Feed(answer));
  EXPECT_TRUE(done.MayEnd());
  EXPECT_FALSE(DsmlGrammar(done).Feed("more"));
}

TEST(DsmlGrammarTest, AutoModeSingleCall) {
  DsmlGrammarSpec spec = Spec(true);
  spec.mode = DsmlGrammarSpec::Mode::kAuto;
  const std::string one =
      "Go.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"free\">\n\n</｜DSML｜invoke>\n";
  EXPECT_FALSE(Accepts(spec, one + "<｜DSML｜invoke name=\"free\">"));
  EXPECT_TRUE(Accepts(spec, one + "</｜DSML｜tool_calls>"));
}

}  // namespace
}  // namespace dsagent::engine
