// BuildRepoMap end to end on the fixtures: ranking toward the focus, the token budget, byte
// stability, and the repo_map tool through the registry.
#include "tools/repomap/repo_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/tools/repomap/repomap_test_util.h"
#include "tools/registry.h"
#include "tools/repomap/ranking.h"
#include "tools/repomap/snippet_render.h"

namespace dsagent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

RepoMapOptions Options(const testing::FixtureRepo& repo, size_t max_tokens) {
  RepoMapOptions o;
  o.workspace = repo.repo();
  o.cache_dir = repo.cache();
  o.max_tokens = max_tokens;
  return o;
}

TEST(RepoMap, RanksTheDefinitionsTheFocusedFileUsesFirst) {
  testing::FixtureRepo repo("ranking");
  // Without a focus, the logging helpers used by four files lead.
  RepoMapOptions plain = Options(repo, 40);
  auto unfocused = BuildRepoMap(plain);
  ASSERT_TRUE(unfocused.has_value()) << unfocused.error();
  EXPECT_THAT(unfocused->text, HasSubstr("def log_message"));
  EXPECT_THAT(unfocused->text, HasSubstr("def flush_log_buffer"));

  // Focused on focus.py, the two definitions it uses come first and fill a small budget.
  RepoMapOptions focused = Options(repo, 30);
  focused.focus_paths = {"focus.py"};
  auto map = BuildRepoMap(focused);
  ASSERT_TRUE(map.has_value()) << map.error();
  EXPECT_EQ(map->definitions_shown, 2u) << map->text;
  EXPECT_EQ(map->text,
            "config_loader.py:\n│def parse_config_file(path):\n⋮\n"
            "report.py:\n│def render_report_table(rows):\n⋮\n");
  // The focus file's own definitions are left out: the model has that file.
  EXPECT_THAT(map->text, Not(HasSubstr("build_report")));
}

TEST(RepoMap, RankingOrderPutsFocusUsesAboveEverythingElse) {
  testing::FixtureRepo repo("ranking");
  repomap::ScanResult scan =
      repomap::ScanWorkspace({.workspace = repo.repo(), .cache_dir = repo.cache()});
  const auto ranked =
      repomap::RankDefinitions(scan.files, {.files = {"focus.py"}, .identifiers = {}});
  ASSERT_GE(ranked.size(), 3u);
  std::vector<std::string> top;
  for (size_t i = 0; i < 2; ++i)
    top.push_back(scan.files[ranked[i].file].tags.tags[ranked[i].tag].name);
  EXPECT_THAT(top, ::testing::UnorderedElementsAre("parse_config_file", "render_report_table"));
  // Without a focus, the helpers that four files use lead (log_message is used twice per file).
  const auto unfocused = repomap::RankDefinitions(scan.files, {});
  ASSERT_GE(unfocused.size(), 2u);
  EXPECT_EQ(scan.files[unfocused[0].file].tags.tags[unfocused[0].tag].name, "log_message");
  EXPECT_EQ(scan.files[unfocused[1].file].tags.tags[unfocused[1].tag].name, "flush_log_buffer");
  // A mentioned symbol is favoured even without a focus file.
  const auto by_symbol =
      repomap::RankDefinitions(scan.files, {.files = {}, .identifiers = {"flush_log_buffer"}});
  EXPECT_EQ(scan.files[by_symbol[0].file].tags.tags[by_symbol[0].tag].name, "flush_log_buffer");
}

TEST(RepoMap, IdentifierWeightFollowsAiderRules) {
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("x", false, 1), 1);
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("x", true, 1), 10);
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("parse_config", false, 1), 10);
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("ParseConfig", false, 1), 10);
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("parse", false, 1), 1);
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("_priv", false, 1), 0.1);
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("_private_helper", false, 1), 1);  // x10 x0.1
  EXPECT_DOUBLE_EQ(repomap::IdentifierWeight("init", false, 6), 0.1);
}

TEST(RepoMap, FitsTheBudgetAndGrowsWithIt) {
  testing::FixtureRepo repo("multi");
  size_t previous_shown = 0;
  for (size_t budget : {64u, 128u, 256u, 1024u}) {
    auto map = BuildRepoMap(Options(repo, budget));
    ASSERT_TRUE(map.has_value()) << map.error();
    EXPECT_LE(repomap::EstimateTokens(map->text), budget);
    EXPECT_EQ(map->tokens_estimate, repomap::EstimateTokens(map->text));
    EXPECT_GE(map->definitions_shown, previous_shown) << budget;
    previous_shown = map->definitions_shown;
  }
  // 1024 tokens hold every definition of this small fixture.
  auto all = BuildRepoMap(Options(repo, 1024));
  EXPECT_EQ(all->definitions_shown, all->definitions_ranked);
  EXPECT_THAT(all->text, HasSubstr("rust/lib.rs:\n│pub struct Counter {\n"));
  // Scope-aware: a method appears under its class's header line.
  EXPECT_THAT(
      all->text,
      HasSubstr("│class Circle:\n│    def __init__(self, radius):\n⋮\n│    def area(self):\n"));
  auto none = BuildRepoMap(Options(repo, 1));
  EXPECT_EQ(none->definitions_shown, 0u);
  EXPECT_EQ(none->text, "");
}

TEST(RepoMap, IdenticalInputGivesByteIdenticalOutput) {
  testing::FixtureRepo repo("multi");
  RepoMapOptions cold = Options(repo, 300);
  cold.threads = 4;
  auto a = BuildRepoMap(cold);  // parses everything
  RepoMapOptions warm = Options(repo, 300);
  warm.threads = 1;
  auto b = BuildRepoMap(warm);  // reads the cache, one thread
  RepoMapOptions uncached = Options(repo, 300);
  uncached.cache_dir.clear();
  auto c = BuildRepoMap(uncached);
  ASSERT_TRUE(a && b && c);
  EXPECT_GT(a->files_parsed, 0u);
  EXPECT_EQ(b->files_from_cache, a->files_mapped);
  EXPECT_FALSE(a->text.empty());
  EXPECT_EQ(a->text, b->text);
  EXPECT_EQ(a->text, c->text);
}

TEST(RepoMap, RejectsFocusOutsideTheWorkspaceAndNotesUnmatchedFocus) {
  testing::FixtureRepo repo("ranking");
  RepoMapOptions outside = Options(repo, 100);
  outside.focus_paths = {"../elsewhere.py"};
  auto err = BuildRepoMap(outside);
  ASSERT_FALSE(err.has_value());
  EXPECT_THAT(err.error(), HasSubstr("outside the workspace"));

  RepoMapOptions missing = Options(repo, 100);
  missing.focus_paths = {"no_such_file.py"};
  auto map = BuildRepoMap(missing);
  ASSERT_TRUE(map.has_value());
  ASSERT_EQ(map->notes.size(), 1u);
  EXPECT_THAT(map->notes[0], HasSubstr("no_such_file.py"));
}

TEST(RepoMap, SessionMapHasAHeadingAndFitsItsBudget) {
  testing::FixtureRepo repo("multi");
  // The session map uses the user's cache directory; point it at the test's.
  setenv("XDG_CACHE_HOME", repo.cache().c_str(), 1);
  const std::string map = RenderSessionRepoMap(repo.repo(), 200);
  EXPECT_THAT(map, StartsWith("Repository map"));
  EXPECT_LE(repomap::EstimateTokens(map), 200u);
  EXPECT_EQ(map, RenderSessionRepoMap(repo.repo(), 200));
  EXPECT_EQ(RenderSessionRepoMap(repo.path() / "missing", 200), "");
}

TEST(RepoMapTool, DispatchedThroughTheRegistry) {
  testing::FixtureRepo repo("ranking");
  setenv("XDG_CACHE_HOME", repo.cache().c_str(), 1);
  const ToolRegistry registry = ToolRegistry::BuiltIn();
  ToolContext ctx;
  ctx.workspace = repo.repo();
  ToolResult r = registry.Dispatch("repo_map", R"({"focus":["focus.py"],"max_tokens":128})", ctx);
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("config_loader.py:\n│def parse_config_file(path):\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("build_report")));  // the focus file's own definition
  EXPECT_EQ(r.details["files_mapped"], 8);

  ToolResult bad = registry.Dispatch("repo_map", R"({"focus":["/etc/passwd"]})", ctx);
  EXPECT_FALSE(bad.ok);
  EXPECT_THAT(bad.output, HasSubstr("outside the workspace"));
  ToolResult not_strings = registry.Dispatch("repo_map", R"({"symbols":[1]})", ctx);
  EXPECT_FALSE(not_strings.ok);
}

}  // namespace
}  // namespace dsagent
