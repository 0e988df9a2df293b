#include "engine/tokenizer/bpe_merge_table.h"

#include <gtest/gtest.h>

#include <climits>
#include <map>
#include <random>
#include <string>

namespace dsagent::engine {
namespace {

// A small vocabulary over strings: every merge's result gets an id, as in a tokenizer.json.
struct Vocab {
  std::map<std::string, int32_t> ids;
  std::vector<std::string> text;
  std::map<std::pair<int32_t, int32_t>, int32_t> ranks;  // the textbook loop's table
  BpeMergeTable table;

  int32_t Id(const std::string& s) {
    auto [it, added] = ids.emplace(s, static_cast<int32_t>(text.size()));
    if (added) text.push_back(s);
    return it->second;
  }
  void AddMerge(const std::string& l, const std::string& r) {
    const int32_t li = Id(l), ri = Id(r), merged = Id(l + r);
    const auto rank = static_cast<int32_t>(ranks.size());
    if (ranks.emplace(std::pair{li, ri}, rank).second) table.Add(li, ri, merged, rank);
  }
  // The textbook loop: merge the lowest-ranked adjacent pair, the leftmost among equals.
  std::vector<int32_t> Textbook(std::vector<int32_t> s) {
    while (s.size() > 1) {
      int32_t best = INT32_MAX;
      size_t at = 0;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        auto it = ranks.find({s[i], s[i + 1]});
        if (it != ranks.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == INT32_MAX) break;
      s[at] = Id(text[static_cast<size_t>(s[at])] + text[static_cast<size_t>(s[at + 1])]);
      s.erase(s.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    return s;
  }
  std::vector<int32_t> Chars(const std::string& s) {
    std::vector<int32_t> out;
    for (char c : s) out.push_back(Id(std::string(1, c)));
    return out;
  }
};

TEST(BpeMergeTableTest, MergesByRankThenLeftmost) {
  Vocab v;
  v.AddMerge("a", "a");    // rank 0
  v.AddMerge("aa", "aa");  // rank 1
  v.AddMerge("b", "c");    // rank 2
  v.AddMerge("a", "b");    // rank 3: loses to b+c in "abc"
  auto s = v.Chars("aaaaa");
  v.table.Merge(&s);
  EXPECT_EQ(s, (std::vector<int32_t>{v.Id("aaaa"), v.Id("a")}));
  s = v.Chars("abc");
  v.table.Merge(&s);
  EXPECT_EQ(s, (std::vector<int32_t>{v.Id("a"), v.Id("bc")}));
  std::vector<int32_t> one = {v.Id("a")}, none;
  v.table.Merge(&one);
  v.table.Merge(&none);
  EXPECT_EQ(one, std::vector<int32_t>{v.Id("a")});
  EXPECT_TRUE(none.empty());
}

TEST(BpeMergeTableTest, UnknownSymbolsStayAndNeverMerge) {
  Vocab v;
  v.AddMerge("a", "a");
  std::vector<int32_t> s = {v.Id("a"), -1, v.Id("a"), v.Id("a")};
  v.table.Merge(&s);
  EXPECT_EQ(s, (std::vector<int32_t>{v.Id("a"), -1, v.Id("aa")}));
}

TEST(BpeMergeTableTest, EqualsTheTextbookLoopOnRandomTablesAndInputs) {
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    Vocab v;
    const std::string alphabet = "abcd";
    // Random merges over strings built from earlier merges, so that chains form.
    std::vector<std::string> pool = {"a", "b", "c", "d"};
    for (int m = 0; m < 30; ++m) {
      const std::string l = pool[rng() % pool.size()], r = pool[rng() % pool.size()];
      v.AddMerge(l, r);
      pool.push_back(l + r);
    }
    for (int input = 0; input < 20; ++input) {
      std::string text;
      const size_t len = rng() % 60;
      const bool run = rng() % 4 == 0;  // long runs of one character are the hard case
      for (size_t i = 0; i < len; ++i) text += alphabet[run ? 0 : rng() % alphabet.size()];
      auto fast = v.Chars(text);
      v.table.Merge(&fast);
      EXPECT_EQ(fast, v.Textbook(v.Chars(text))) << "round " << round << ": " << text;
    }
  }
}

TEST(BpeMergeTableTest, ALongRunMergesCompletely) {
  Vocab v;
  v.AddMerge("a", "a");
  v.AddMerge("aa", "aa");
  v.AddMerge("aaaa", "aaaa");
  auto s = v.Chars(std::string(1 << 18, 'a'));
  v.table.Merge(&s);
  EXPECT_EQ(s, std::vector<int32_t>(1 << 15, v.Id("aaaaaaaa")));
}

TEST(BpeMergeTableTest, ACancelledMergeStopsEarly) {
  Vocab v;
  v.AddMerge("a", "a");
  v.AddMerge("aa", "aa");
  const auto run = v.Chars(std::string(1 << 18, 'a'));
  auto full = run, live = run, stopped = run;
  v.table.Merge(&full);
  CancelToken never, cancelled;
  cancelled.Cancel();
  v.table.Merge(&live, &never);
  v.table.Merge(&stopped, &cancelled);
  EXPECT_EQ(live, full);
  EXPECT_EQ(full.size(), size_t{1} << 16);
  EXPECT_GT(stopped.size(), full.size());  // stopped after kCancelCheckMerges merges
  EXPECT_LT(stopped.size(), run.size());
}

}  // namespace
}  // namespace dsagent::engine
