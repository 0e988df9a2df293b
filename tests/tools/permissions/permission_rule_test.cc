#include "tools/permissions/permission_rule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dsagent {
namespace {
using ::testing::HasSubstr;

TEST(PermissionRuleTest, ParsesAndFormats) {
  auto r = ParsePermissionRule("  allow bash(git status *)  ");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->decision, Decision::kAllow);
  EXPECT_EQ(r->tool, "bash");
  EXPECT_EQ(r->pattern, "git status *");
  EXPECT_EQ(FormatPermissionRule(*r), "allow bash(git status *)");

  auto deny = ParsePermissionRule("deny write_file");
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->pattern, "");
  EXPECT_EQ(FormatPermissionRule(*deny), "deny write_file");

  // Parentheses inside the pattern are kept; "*" alone means every call.
  EXPECT_EQ(ParsePermissionRule("ask bash(echo (a))")->pattern, "echo (a)");
  EXPECT_EQ(ParsePermissionRule("ask edit(*)")->pattern, "");
  EXPECT_EQ(ParsePermissionRule("deny *")->tool, "*");
}

TEST(PermissionRuleTest, RejectsMalformedRules) {
  for (const char* bad : {"", "allow", "permit bash", "allow bash git status", "allow ba*sh",
                          "allow bash(git", "allow (x)"}) {
    auto r = ParsePermissionRule(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_THAT(r.error(), HasSubstr("permission rule")) << bad;
    }
  }
}

TEST(PermissionRuleTest, CommandPatterns) {
  EXPECT_TRUE(CommandPatternMatches("git status *", "git status --short"));
  EXPECT_TRUE(CommandPatternMatches("git status *", "git status"));  // " *" = any arguments
  EXPECT_FALSE(CommandPatternMatches("git status *", "git statusx"));
  EXPECT_TRUE(CommandPatternMatches("git status*", "git statusx"));
  EXPECT_TRUE(CommandPatternMatches("npm test", "npm test"));
  EXPECT_FALSE(CommandPatternMatches("npm test", "npm test --watch"));
  EXPECT_TRUE(CommandPatternMatches("rm *", "rm -rf /some/where"));  // '*' crosses '/' and ' '
  EXPECT_TRUE(CommandPatternMatches("rm *", "rm"));
  EXPECT_TRUE(CommandPatternMatches("*", "anything at all"));
  EXPECT_TRUE(CommandPatternMatches("ls ?", "ls a"));
  EXPECT_TRUE(CommandPatternMatches("git  status   *", "git status -s"));  // blanks collapse
  EXPECT_TRUE(CommandPatternMatches("echo \\*", "echo *"));
  EXPECT_FALSE(CommandPatternMatches("echo \\*", "echo x"));
  EXPECT_FALSE(CommandPatternMatches("echo a\\ *", "echo a"));
  EXPECT_TRUE(CommandPatternMatches("*test*", "make test-all"));
  EXPECT_FALSE(CommandPatternMatches("a*b*c*d*e*f*g*h*i*j*k", std::string(200, 'a')));
}

TEST(PermissionRuleTest, PathPatterns) {
  EXPECT_TRUE(PathPatternMatches("src/**", "src/a/b.cc"));
  EXPECT_TRUE(PathPatternMatches("*.md", "README.md"));
  EXPECT_FALSE(PathPatternMatches("*.md", "docs/x.md"));
  EXPECT_TRUE(PathPatternMatches("**/*.md", "docs/x.md"));
  EXPECT_TRUE(PathPatternMatches(EscapePathPattern("we*rd[1].txt"), "we*rd[1].txt"));
  EXPECT_FALSE(PathPatternMatches(EscapePathPattern("we*rd.txt"), "weXrd.txt"));
  EXPECT_TRUE(CommandPatternMatches(EscapeCommandPattern("echo a*b?\\"), "echo a*b?\\"));
  EXPECT_FALSE(CommandPatternMatches(EscapeCommandPattern("echo a*"), "echo abc"));
}

TEST(PermissionRuleTest, LastMatchingRuleWins) {
  std::vector<PermissionRule> rules;
  for (const char* text : {"allow bash(git *)", "deny bash(git push *)", "ask bash(git push -n *)",
                           "allow edit(docs/**)", "deny write_file(docs/secret/**)"}) {
    rules.push_back(*ParsePermissionRule(text));
  }
  auto decide = [&](const char* tool, const std::string& subject) -> std::string {
    const PermissionRule* r = LastMatchingRule(rules, tool, {subject});
    return r ? DecisionName(r->decision) : "none";
  };
  EXPECT_EQ(decide("bash", "git status"), "allow");
  EXPECT_EQ(decide("bash", "git push origin main"), "deny");
  EXPECT_EQ(decide("bash", "git push -n origin"), "ask");
  EXPECT_EQ(decide("bash", "ls"), "none");
  EXPECT_EQ(decide("edit_file", "docs/a.md"), "allow");  // `edit` covers every editing tool
  EXPECT_EQ(decide("write_file", "docs/secret/k"), "deny");
  EXPECT_EQ(decide("edit_file", "docs/secret/k"), "allow");  // that deny names write_file only
  EXPECT_EQ(decide("read_file", "docs/a.md"), "none");
  // Any one of several subjects matching is enough (a command also matches by its file name).
  EXPECT_NE(LastMatchingRule(rules, "bash", {"/usr/bin/git push x", "git push x"}), nullptr);
}

}  // namespace
}  // namespace dsagent

namespace dsagent {
namespace {

TEST(PermissionRuleTest, McpToolsAreNamedByToolOrByServer) {
  std::vector<PermissionRule> rules;
  for (const char* text : {"ask mcp__fs", "allow mcp__fs__read_text_file(notes/**)",
                           "deny mcp__tracker__delete_issue"}) {
    auto rule = ParsePermissionRule(text);
    ASSERT_TRUE(rule) << rule.error();
    rules.push_back(*rule);
  }
  auto decide = [&](const char* tool, const std::string& subject) -> std::string {
    const PermissionRule* r = LastMatchingRule(rules, tool, {subject});
    return r ? DecisionName(r->decision) : "none";
  };
  EXPECT_EQ(decide("mcp__fs__read_text_file", "notes/a.md"), "allow");
  EXPECT_EQ(decide("mcp__fs__read_text_file", "src/a.cc"), "ask");  // the server-wide rule
  EXPECT_EQ(decide("mcp__fs__write_file", ""), "ask");
  EXPECT_EQ(decide("mcp__fsx__write_file", ""), "none");  // another server sharing a prefix
  EXPECT_EQ(decide("mcp__tracker__delete_issue", ""), "deny");
  EXPECT_EQ(decide("mcp__tracker__list_issues", ""), "none");
}

}  // namespace
}  // namespace dsagent
