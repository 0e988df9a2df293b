#include "common/utf8.h"
#include "tools/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records the arguments it was called with; can be told to throw.
class ProbeTool : public Tool {
 public:
  explicit ProbeTool(bool throws = false) : throws_(throws) {}
  std::string Name() const override { return "probe"; }
  Json Schema() const override {
    return Json::parse(R"({"type": "object",
      "properties": {"text": {"type": "string"}, "count": {"type": "integer", "minimum": 1},
                     "flag": {"type": "boolean"}},
      "required": ["text"], "additionalProperties": false})");
  }
  ToolResult Run(const Json& args, const ToolContext&) override {
    if (throws_) throw std::runtime_error("boom");
    ToolResult r;
    r.output = args.dump();
    return r;
  }

 private:
  bool throws_;
};

bool HasFloat(const Json& j) {
  if (j.is_number_float()) return true;
  if (j.is_structured()) {
    for (const auto& child : j) {
      if (HasFloat(child)) return true;
    }
  }
  return false;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { probe_.Add(std::make_unique<ProbeTool>()); }
  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  ToolRegistry probe_;
};

TEST_F(RegistryTest, BuiltInHasEveryToolSortedWithDescriptionsAndStrictSchemas) {
  const ToolRegistry registry = ToolRegistry::BuiltIn();
  std::vector<std::string> names;
  for (const Tool* tool : registry.Tools()) {
    const std::string name = tool->Name();
    const Json parameters = tool->Schema();
    names.push_back(name);
    EXPECT_FALSE(ToolDescription(name).empty())
        << name << " has no prompts/tools/" << name << ".md";
    EXPECT_EQ(parameters["type"], "object") << name;
    EXPECT_EQ(parameters["additionalProperties"], false) << name;
    EXPECT_FALSE(HasFloat(parameters)) << name;
    for (const auto& [prop, spec] : parameters["properties"].items()) {
      EXPECT_TRUE(spec.contains("description")) << name << "." << prop;
    }
    for (const auto& required : parameters.value("required", Json::array())) {
      EXPECT_TRUE(parameters["properties"].contains(required.get<std::string>())) << name;
    }
  }
  EXPECT_THAT(names, ElementsAre("bash", "edit_file", "git_diff", "git_log", "git_status", "glob",
                                 "grep", "list_files", "read_file", "repo_map", "write_file"));
}

TEST_F(RegistryTest, SchemasAreByteStableAcrossRegistries) {
  const ToolRegistry first = ToolRegistry::BuiltIn(), second = ToolRegistry::BuiltIn();
  const auto a = first.Tools(), b = second.Tools();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->Name(), b[i]->Name());
    EXPECT_EQ(CanonicalJson(a[i]->Schema()), CanonicalJson(b[i]->Schema()));
  }
}

TEST_F(RegistryTest, DispatchRunsTheToolWithParsedArguments) {
  ToolResult r = probe_.Dispatch("probe", R"({"text": "hi", "count": 2})", ctx_);
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, R"({"count":2,"text":"hi"})");
}

TEST_F(RegistryTest, UnknownToolListsTheAvailableOnes) {
  ToolResult r = ToolRegistry::BuiltIn().Dispatch("read", "{}", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("unknown tool 'read'"));
  EXPECT_THAT(r.output, HasSubstr("read_file"));
  EXPECT_THAT(r.output, HasSubstr("git_log"));
}

TEST_F(RegistryTest, MalformedJsonQuotesTheParseError) {
  ToolResult r = probe_.Dispatch("probe", R"({"text": "unterminated)", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("not valid JSON"));
  EXPECT_THAT(r.output, HasSubstr("parse error"));
}

TEST_F(RegistryTest, ParseErrorsQuotingInvalidUtf8StayValidUtf8) {
  // The parse error quotes the bytes it read; the model must still get valid UTF-8 (found by
  // tests/fuzz/fuzz_tool_calls).
  ToolResult r = probe_.Dispatch("probe", "{\"text\": \"src\xffne\"x\n\"}", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("not valid JSON"));
  EXPECT_EQ(SanitizeUtf8(r.output), r.output);
}

TEST_F(RegistryTest, ArgumentsMustBeAnObject) {
  ToolResult r = probe_.Dispatch("probe", R"(["text"])", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("must be a JSON object, got array"));
}

TEST_F(RegistryTest, MissingRequiredArgument) {
  ToolResult r = probe_.Dispatch("probe", R"({"count": 1})", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.output, "Error: missing required argument 'text' for probe");
  // An empty argument string is an empty object, so the required check still applies.
  EXPECT_EQ(probe_.Dispatch("probe", "", ctx_).output,
            "Error: missing required argument 'text' for probe");
}

TEST_F(RegistryTest, WrongPrimitiveTypes) {
  EXPECT_EQ(probe_.Dispatch("probe", R"({"text": 5})", ctx_).output,
            "Error: argument 'text' of probe must be a string, got integer");
  EXPECT_EQ(probe_.Dispatch("probe", R"({"text": "x", "count": "3"})", ctx_).output,
            "Error: argument 'count' of probe must be an integer, got string");
  EXPECT_EQ(probe_.Dispatch("probe", R"({"text": "x", "count": 1.5})", ctx_).output,
            "Error: argument 'count' of probe must be an integer, got number");
  EXPECT_EQ(probe_.Dispatch("probe", R"({"text": "x", "flag": "yes"})", ctx_).output,
            "Error: argument 'flag' of probe must be a boolean, got string");
  EXPECT_EQ(probe_.Dispatch("probe", R"({"text": "x", "count": 0})", ctx_).output,
            "Error: argument 'count' of probe must be at least 1");
}

TEST_F(RegistryTest, UnknownArgumentNamesTheValidOnes) {
  ToolResult r = probe_.Dispatch("probe", R"({"text": "x", "file_path": "y"})", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.output,
            "Error: unknown argument 'file_path' for probe; its arguments are: count, flag, text");
}

TEST_F(RegistryTest, NullOptionalArgumentsCountAsAbsent) {
  ToolResult r = probe_.Dispatch("probe", R"({"text": "x", "count": null})", ctx_);
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, R"({"text":"x"})");
  EXPECT_FALSE(probe_.Dispatch("probe", R"({"text": null})", ctx_).ok);
}

TEST_F(RegistryTest, ExceptionsBecomeErrorResults) {
  ToolRegistry registry;
  registry.Add(std::make_unique<ProbeTool>(/*throws=*/true));
  ToolResult r = registry.Dispatch("probe", R"({"text": "x"})", ctx_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.output, "Error: internal error in tool probe: boom");
}

TEST_F(RegistryTest, BuiltInToolsWorkThroughDispatch) {
  const ToolRegistry registry = ToolRegistry::BuiltIn();
  ws_.Write("f.txt", "hello\n");
  ToolResult read = registry.Dispatch("read_file", R"({"path": "f.txt"})", ctx_);
  EXPECT_TRUE(read.ok) << read.output;
  EXPECT_EQ(read.output, "     1\thello\n");
  ToolResult bad = registry.Dispatch("read_file", R"({"path": "f.txt", "start_line": 0})", ctx_);
  EXPECT_FALSE(bad.ok);
  EXPECT_THAT(bad.output, HasSubstr("at least 1"));
}

// A tool from outside (an MCP server's) whose schema uses JSON Schema beyond what the registry
// checks.
class ExternalTool : public Tool {
 public:
  std::string Name() const override { return "mcp__srv__echo"; }
  Json Schema() const override {
    return Json::parse(R"({"type":"object","properties":{"v":{"type":["string","null"]}}})");
  }
  ToolResult Run(const Json& args, const ToolContext&) override {
    ToolResult r;
    r.output = args.dump();
    return r;
  }
};

TEST_F(RegistryTest, ExternalToolsComeAfterBuiltInsAndTheirServerChecksArguments) {
  ToolRegistry registry = ToolRegistry::BuiltIn();
  registry.AddExternal(std::make_unique<ExternalTool>(), "echoes");
  const std::vector<const Tool*> tools = registry.Tools();
  EXPECT_EQ(tools.back()->Name(), "mcp__srv__echo");
  EXPECT_EQ(registry.Description("mcp__srv__echo"), "echoes");
  EXPECT_EQ(tools[tools.size() - 2]->Name(), "write_file");  // the last built-in, sorted
  EXPECT_TRUE(registry.Has("mcp__srv__echo"));
  const ToolResult r = registry.Dispatch("mcp__srv__echo", R"({"v":null,"extra":1})", ctx_);
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, R"({"extra":1,"v":null})");
  EXPECT_FALSE(registry.Dispatch("mcp__srv__echo", "[1]", ctx_).ok);
  EXPECT_THAT(registry.Dispatch("nope", "{}", ctx_).output, HasSubstr("mcp__srv__echo"));
}

}  // namespace
}  // namespace dsagent
