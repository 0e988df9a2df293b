#include "engine/generate/prompt_token_cache.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {
namespace {

const std::filesystem::path kTinyTokenizerJson =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

class PromptTokenCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = BpeTokenizer::Load(kTinyTokenizerJson);
    ASSERT_TRUE(t) << t.error();
    tok_ = std::move(*t);
    // Two added tokens where one is a prefix of the other: the matcher's choice at "<x>" depends
    // on the bytes after it, so a resume point right after "<x>" is only valid when those bytes
    // are shared too.
    const SpecialToken extra[] = {{"<x>", 600}, {"<x>yz", 601}};
    auto added = tok_->AddSpecialTokens(extra);
    ASSERT_TRUE(added) << added.error();
  }
  std::unique_ptr<BpeTokenizer> tok_;
};

TEST_F(PromptTokenCacheTest, EqualsAWholeEncodeAcrossGrowthAndEdits) {
  PromptTokenCache cache(2);
  // Turns long enough that the resume points lie well before the end of the shared prefix (the
  // margin is the longest added token, ~30 bytes in this vocabulary).
  const std::string turn(100, 'w');
  const std::vector<std::string> texts = {
      "hello<x>" + turn + "<x>y",                  // ends inside what could become "<x>yz"
      "hello<x>" + turn + "<x>yz tail",            // ... and does: that "<x>" is not reused
      "hello<x>" + turn + "<x>yz tail<x>" + turn,  // grown
      "hello<x>" + turn + "0<x>yz",                // edited before the second marker
      "other<x>" + turn,                           // another conversation
      "hello<x>" + turn + "<x>yz tail<x>" + turn + "<x>yz<x>",
  };
  for (const auto& text : texts) {
    EXPECT_EQ(cache.Encode(*tok_, text), tok_->Encode(text)) << text;
    EXPECT_LE(cache.size(), 2u);
  }
  EXPECT_EQ(tok_->Encode("a<x>yz")[1], 601);  // the longer token wins in a whole encode
}

TEST_F(PromptTokenCacheTest, AGrownPromptReplacesTheOneItExtends) {
  PromptTokenCache cache(4);
  cache.Encode(*tok_, "turn one<x>");
  cache.Encode(*tok_, "turn one<x>turn two<x>");
  cache.Encode(*tok_, "turn one<x>turn two<x>turn three");
  EXPECT_EQ(cache.size(), 1u);
  cache.Encode(*tok_, "another conversation<x>");
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(PromptTokenCacheTest, HoldsAtMostItsCapacityAndKeepsNoCancelledEncoding) {
  PromptTokenCache cache(2);
  for (const char* text : {"a<x>1", "b<x>2", "c<x>3", "d<x>4"}) {
    EXPECT_EQ(cache.Encode(*tok_, text), tok_->Encode(text));
  }
  EXPECT_EQ(cache.size(), 2u);
  PromptTokenCache empty(2);
  CancelToken cancelled;
  cancelled.Cancel();
  empty.Encode(*tok_, std::string(1 << 17, 'q'), &cancelled);
  EXPECT_EQ(empty.size(), 0u);
}

}  // namespace
}  // namespace dsagent::engine
