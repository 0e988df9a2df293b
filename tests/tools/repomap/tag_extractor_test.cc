// Tag extraction on the multi-language fixture: each shipped query compiles against its grammar,
// and known symbols come out with their kinds and positions.
#include "tools/repomap/tag_extractor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/tools/repomap/repomap_test_util.h"
#include "tools/repomap/file_scan.h"
#include "tools/repomap/language.h"

namespace dsagent::repomap {
namespace {

using ::testing::IsEmpty;

TEST(RepoMapLanguages, EveryGrammarIsBuiltAndEveryQueryCompiles) {
  EXPECT_THAT(UnavailableLanguages(), IsEmpty()) << "run scripts/setup.sh, then reconfigure";
  for (const char* file :
       {"a.c", "a.cc", "a.h", "a.py", "a.js", "a.ts", "a.tsx", "a.go", "a.rs", "a.java"}) {
    const Language* language = LanguageForPath(file);
    ASSERT_NE(language, nullptr) << file;
    auto ok = CheckTagsQuery(*language);
    EXPECT_TRUE(ok.has_value()) << file << ": " << (ok ? "" : ok.error());
  }
  EXPECT_EQ(LanguageForPath("README.md"), nullptr);
  EXPECT_EQ(LanguageForPath("Makefile"), nullptr);
}

struct KnownDefinition {
  std::string path, name, kind;
  uint32_t line, column;
};

// The definition `name` at `line` of `path`, or nullptr.
const Tag* FindDefinition(const ScanResult& scan, const std::string& path, const std::string& name,
                          uint32_t line) {
  for (const ScannedFile& f : scan.files) {
    if (f.path != path) continue;
    for (const Tag& t : f.tags.tags) {
      if (t.role == TagRole::kDefinition && t.name == name && t.line == line) return &t;
    }
  }
  return nullptr;
}

TEST(TagExtractor, FindsKnownDefinitionsWithKindsAndPositions) {
  testing::FixtureRepo repo("multi");
  ScanResult scan = ScanWorkspace({.workspace = repo.repo(), .cache_dir = repo.cache()});
  // Positions read off the fixture files by hand (1-based line and byte column of the name).
  const std::vector<KnownDefinition> expected = {
      {"c/list.c", "list_push", "function", 5, 14},
      {"c/list.c", "list_length", "function", 12, 5},
      {"c/list.h", "list_node", "struct", 4, 8},
      {"c/list.h", "list_node_t", "type", 9, 26},
      {"c/list.h", "LIST_H", "macro", 2, 9},
      {"cpp/geometry.h", "geo", "namespace", 3, 11},
      {"cpp/geometry.h", "Point", "struct", 5, 8},
      {"cpp/geometry.h", "Shape", "class", 10, 7},
      {"cpp/geometry.h", "Area", "method", 13, 18},
      {"cpp/geometry.h", "Color", "enum", 16, 12},
      {"cpp/geometry.h", "kRed", "constant", 16, 20},
      {"cpp/geometry.h", "PointList", "type", 18, 7},
      {"cpp/geometry.h", "DistanceBetween", "function", 20, 8},
      {"cpp/geometry.cc", "Circle", "class", 11, 7},
      {"cpp/geometry.cc", "Area", "method", 13, 10},
      {"cpp/render.cc", "MAX_SHAPES", "macro", 3, 9},
      {"cpp/render.cc", "TotalLength", "function", 5, 15},
      {"py/lib/shapes.py", "UNIT_SCALE", "constant", 3, 1},
      {"py/lib/shapes.py", "Circle", "class", 6, 7},
      {"py/lib/shapes.py", "area", "method", 10, 9},
      {"py/lib/shapes.py", "compute_total_area", "function", 14, 5},
      {"web/util.js", "formatPrice", "function", 1, 17},
      {"web/util.js", "PriceBook", "class", 5, 14},
      {"web/util.js", "lookup", "method", 6, 3},
      {"web/util.js", "applyDiscount", "function", 11, 14},
      {"web/app.ts", "Cart", "interface", 3, 18},
      {"web/app.ts", "CartId", "type", 7, 13},
      {"web/app.ts", "Currency", "enum", 9, 13},
      {"web/app.ts", "CartView", "class", 14, 14},
      {"web/app.ts", "render", "method", 15, 3},
      {"web/app.ts", "emptyCart", "function", 20, 17},
      {"go/server.go", "DefaultPort", "constant", 3, 7},
      {"go/server.go", "Handler", "interface", 5, 6},
      {"go/server.go", "Server", "struct", 9, 6},
      {"go/server.go", "NewServer", "function", 13, 6},
      {"go/server.go", "Start", "method", 17, 18},
      {"rust/lib.rs", "Counter", "struct", 1, 12},
      {"rust/lib.rs", "Tick", "trait", 5, 11},
      {"rust/lib.rs", "new", "method", 10, 12},
      {"rust/lib.rs", "Mode", "enum", 21, 10},
      {"rust/lib.rs", "run_counter", "function", 26, 8},
      {"java/Inventory.java", "Inventory", "class", 6, 14},
      {"java/Inventory.java", "addItem", "method", 11, 15},
      {"java/Inventory.java", "Listener", "interface", 15, 13},
  };
  for (const KnownDefinition& e : expected) {
    const Tag* t = FindDefinition(scan, e.path, e.name, e.line);
    ASSERT_NE(t, nullptr) << e.path << ": " << e.name << " at line " << e.line;
    EXPECT_EQ(t->kind, e.kind) << e.path << ": " << e.name;
    EXPECT_EQ(t->column, e.column) << e.path << ": " << e.name;
  }
  // The definition's range covers its body: DistanceBetween in geometry.cc spans lines 7-9.
  const Tag* body = FindDefinition(scan, "cpp/geometry.cc", "DistanceBetween", 7);
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->start_line, 7u);
  EXPECT_EQ(body->end_line, 9u);
}

TEST(TagExtractor, RecordsReferencesButNotAtDefinitions) {
  TagExtractor extractor;
  const Language* python = LanguageForPath("x.py");
  ASSERT_NE(python, nullptr);
  auto tags = extractor.Extract(*python, "def helper_fn():\n    pass\n\nhelper_fn()\n");
  ASSERT_TRUE(tags.has_value()) << tags.error();
  std::vector<std::string> seen;
  for (const Tag& t : tags->tags) {
    seen.push_back(std::string(t.role == TagRole::kDefinition ? "def " : "ref ") + t.kind + " " +
                   t.name + ":" + std::to_string(t.line));
  }
  EXPECT_THAT(seen, ::testing::ElementsAre("def function helper_fn:1", "ref call helper_fn:4"));
}

TEST(TagExtractor, GarbageIsAnErrorNotACrash) {
  TagExtractor extractor;
  const Language* cpp = LanguageForPath("x.cc");
  ASSERT_NE(cpp, nullptr);
  auto tags = extractor.Extract(*cpp, ")))) ((( ]]] }}} {{{ ::: @@@");
  ASSERT_FALSE(tags.has_value());
  EXPECT_THAT(tags.error(), ::testing::HasSubstr("unparseable"));
  // The extractor is still usable afterwards.
  auto ok = extractor.Extract(*cpp, "int Fine() { return 0; }\n");
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->tags.size(), 1u);
  EXPECT_EQ(ok->tags[0].name, "Fine");
}

}  // namespace
}  // namespace dsagent::repomap
