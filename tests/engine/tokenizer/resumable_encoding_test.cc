// BpeTokenizer's resumable encoding (EncodeResuming, EncodeInPlace) against whole encodes: after
// appends, truncations, edits inside and next to markers, with overlapping added tokens, on fixed
// cases and on random texts and edits. The ids and the resume points (byte, ids, read_end) must be
// exactly the whole text's, and an encoding resumes as late as the shared bytes allow: right after
// a token that ends the old text when no longer token could start with it.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {
namespace {

const std::filesystem::path kTinyTokenizerJson =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

class ResumableEncodingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = BpeTokenizer::Load(kTinyTokenizerJson);
    ASSERT_TRUE(t) << t.error();
    tok_ = std::move(*t);
    // Overlapping added tokens: "<x>" is a prefix of "<x>yz" (the choice after "<x>" depends on
    // what follows), "yz<q" starts inside "<x>yz" (leftmost wins), "<｜Us" is a prefix of the
    // real "<｜User｜>" (longest wins).
    const SpecialToken extra[] = {{"<x>", 600}, {"<x>yz", 601}, {"yz<q", 602}, {"<｜Us", 603}};
    auto added = tok_->AddSpecialTokens(extra);
    ASSERT_TRUE(added) << added.error();
  }

  BpeTokenizer::Encoding Whole(const std::string& text) const {
    return tok_->EncodeResuming(text, {}, nullptr);
  }

  // `got` is exactly the whole encoding of `text`: ids and resume points.
  void ExpectWhole(const BpeTokenizer::Encoding& got, const std::string& text,
                   const std::string& what) const {
    const BpeTokenizer::Encoding whole = Whole(text);
    ASSERT_EQ(got.ids, tok_->Encode(text)) << what;
    ASSERT_EQ(got.resume_points.size(), whole.resume_points.size()) << what;
    for (size_t k = 0; k < whole.resume_points.size(); ++k) {
      const auto &g = got.resume_points[k], &w = whole.resume_points[k];
      ASSERT_EQ(g.byte, w.byte) << what << " point " << k;
      ASSERT_EQ(g.ids, w.ids) << what << " point " << k;
      ASSERT_EQ(g.read_end, w.read_end) << what << " point " << k;
    }
  }

  static size_t Shared(const std::string& a, const std::string& b) {
    return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                               a.begin());
  }

  std::unique_ptr<BpeTokenizer> tok_;
};

TEST_F(ResumableEncodingTest, ResumesRightAfterATokenThatEndsTheTextWhenNothingLongerCanFollow) {
  const std::string before = "<｜User｜>read a.cc<｜Assistant｜><think>";
  const std::string after = before + "reasoning</think>answer<｜end▁of▁sentence｜>";
  BpeTokenizer::Encoding e = Whole(before);
  ASSERT_FALSE(e.resume_points.empty());
  EXPECT_EQ(e.resume_points.back().byte, before.size());
  EXPECT_EQ(e.resume_points.back().read_end, before.size());
  EXPECT_EQ(tok_->EncodeInPlace(e, after, before.size()), before.size());
  ExpectWhole(e, after, "appended after <think>");
}

TEST_F(ResumableEncodingTest, AfterATokenALongerOneCouldExtendTheEarlierPointIsUsed) {
  const std::string before = "<｜User｜>hello<x>";  // "<x>yz" could still follow
  BpeTokenizer::Encoding e = Whole(before);
  ASSERT_EQ(e.resume_points.size(), 2u);
  EXPECT_EQ(e.resume_points.back().read_end, AddedTokenMatcher::kReadToEnd);
  const size_t first_point = e.resume_points.front().byte;
  for (const std::string tail : {"yz tail", "y", "q"}) {
    BpeTokenizer::Encoding copy = e;
    EXPECT_EQ(tok_->EncodeInPlace(copy, before + tail, before.size()), first_point) << tail;
    ExpectWhole(copy, before + tail, "after <x> came " + tail);
  }
  EXPECT_EQ(Whole(before + "yz").ids.back(), 601);  // the longer token won
  // Once a byte after "<x>" ruled "<x>yz" out, the point after "<x>" is kept.
  const std::string decided = before + "q";
  BpeTokenizer::Encoding d = Whole(decided);
  EXPECT_EQ(tok_->EncodeInPlace(d, decided + "more<｜User｜>", decided.size()), before.size());
  ExpectWhole(d, decided + "more<｜User｜>", "after <x>q");
}

TEST_F(ResumableEncodingTest, AWalkPastAMatchKeepsItsPointUntilTheWalkIsShared) {
  // At "<｜Us" the matcher also tries "<｜User｜>": the point after "<｜Us" depends on the bytes
  // that walk read, past the token's end.
  const std::string before = "a<｜User";
  const BpeTokenizer::Encoding e = Whole(before);
  ASSERT_EQ(e.resume_points.size(), 1u);
  EXPECT_EQ(e.resume_points[0].byte, std::string("a<｜Us").size());
  EXPECT_EQ(e.resume_points[0].read_end, AddedTokenMatcher::kReadToEnd);
  for (const std::string tail : {"｜>", "x", ""}) {
    BpeTokenizer::Encoding copy = e;
    tok_->EncodeInPlace(copy, before + tail, before.size());
    ExpectWhole(copy, before + tail, "a<｜User + " + tail);
  }
}

TEST_F(ResumableEncodingTest, FixedEditsInsideAndNextToMarkers) {
  const std::string base =
      "<｜begin▁of▁sentence｜>sys<｜User｜>q1<｜Assistant｜><think>r1</"
      "think>a1<｜end▁of▁sentence｜>"
      "<｜User｜><x>yz<q tool<x>q<｜Assistant｜><think>";
  std::vector<std::string> edited = {
      base + "more",
      base + "<x>",
      base + "yz",
      base.substr(0, base.size() - 1),
      base.substr(0, base.size() / 2),
      "",
      base + base,
  };
  for (size_t at : {base.find("<x>") + 1, base.find("<x>") + 3, base.find("</think>"),
                    base.find("<｜User｜>") + 2, base.find("<think>") + 7}) {
    edited.push_back(base.substr(0, at) + "Z" + base.substr(at));  // inserted
    edited.push_back(base.substr(0, at) + base.substr(at + 1));    // deleted
  }
  const BpeTokenizer::Encoding before = Whole(base);
  for (size_t i = 0; i < edited.size(); ++i) {
    const std::string& text = edited[i];
    ExpectWhole(tok_->EncodeResuming(text, base, &before), text,
                "resuming edit " + std::to_string(i));
    BpeTokenizer::Encoding e = before;
    tok_->EncodeInPlace(e, text, Shared(base, text));
    ExpectWhole(e, text, "in place edit " + std::to_string(i));
  }
}

// Random texts over markers, their prefixes, the overlapping tokens and plain text; random edits
// (append, truncate, insert, delete, replace); each resumed encoding against a whole one, also
// carried along a chain of edits and with a shared length claimed shorter than the true one.
TEST_F(ResumableEncodingTest, RandomEditsEqualWholeEncodes) {
  const std::vector<std::string> fragments = {"<｜User｜>",
                                              "<｜Assistant｜>",
                                              "<think>",
                                              "</think>",
                                              "<｜end▁of▁sentence｜>",
                                              "｜DSML｜",
                                              "<x>",
                                              "<x>yz",
                                              "yz<q",
                                              "<｜Us",
                                              "<｜",
                                              "<｜User",
                                              "<x",
                                              "<x>y",
                                              "yz<",
                                              "</think",
                                              "<",
                                              ">",
                                              "｜",
                                              "x",
                                              "y",
                                              "z",
                                              "q",
                                              "hello",
                                              " world",
                                              "\n",
                                              "  ",
                                              "中文",
                                              "😀",
                                              "123",
                                              "\t"};
  std::mt19937 rng(20);
  const auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const auto random_text = [&](size_t max_fragments) {
    std::string s;
    for (size_t n = pick(max_fragments + 1); n > 0; --n) s += fragments[pick(fragments.size())];
    return s;
  };
  const auto edit = [&](const std::string& s) {
    const size_t at = pick(s.size() + 1);
    switch (pick(5)) {
      case 0:
        return s + random_text(6);
      case 1:
        return s.substr(0, at);
      case 2:
        return s.substr(0, at) + random_text(3) + s.substr(at);
      case 3:
        return s.substr(0, at) + s.substr(std::min(s.size(), at + 1 + pick(8)));
      default:
        return at < s.size()
                   ? s.substr(0, at) + fragments[pick(fragments.size())] + s.substr(at + 1)
                   : s + "x";
    }
  };
  size_t resumed_late = 0;
  for (int round = 0; round < 300; ++round) {
    std::string text = random_text(30);
    BpeTokenizer::Encoding chained = Whole(text);
    for (int step = 0; step < 8; ++step) {
      const std::string next = edit(text);
      const size_t shared = Shared(text, next);
      const std::string what = "round " + std::to_string(round) + " step " + std::to_string(step) +
                               ": '" + text + "' -> '" + next + "'";
      ExpectWhole(tok_->EncodeResuming(next, text, &chained), next, "resuming " + what);
      BpeTokenizer::Encoding claimed = chained;
      tok_->EncodeInPlace(claimed, next, pick(shared + 1));
      ExpectWhole(claimed, next, "in place, shorter claim " + what);
      const size_t from = tok_->EncodeInPlace(chained, next, shared);
      ExpectWhole(chained, next, "in place " + what);
      if (from > 0 && from + 8 > shared) ++resumed_late;
      text = next;
    }
  }
  // Not vacuous: many resumes kept nearly all the shared text.
  EXPECT_GT(resumed_late, 100u);
}

}  // namespace
}  // namespace dsagent::engine
