// The DSML grammar accepts what the V4 encoder writes for a tool call (and the parser reads), and
// rejects everything that would leave the call malformed or off the tool's schema.
#include "engine/chat/dsml_grammar.h"

#include <gtest/gtest.h>

#include "engine/chat/dsml_parser.h"

namespace dsagent::engine {
namespace {

const OrderedJson kGrammarTools = OrderedJson::parse(R"([
  {"type": "function", "function": {"name": "read", "parameters": {"type": "object",
     "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
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
  const std::string limit =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read\">\n"
      "<｜DSML｜parameter name=\"limit\" string=\"false\">";
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

}  // namespace
}  // namespace dsagent::engine
