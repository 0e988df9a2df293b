// Keep-alives while a streamed request's prompt is computed reach the client over the socket.
// Clients drop a stream that stays silent (Claude Code after 3 minutes of a long prefill) and
// retry; serve writes a keep-alive between prefill chunks once the stream has been silent for
// ServerOptions::prefill_keepalive_s (10 s in `dsagent serve`). These tests set it to 0, so one
// goes out after every chunk: how many arrive depends only on the prompt's length, not on how fast
// this machine computes it, and nothing waits on a clock. The tiny checkpoint and its tokenizer
// over a real loopback socket.
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "common/json.h"
#include "engine/generate/generator.h"
#include "engine/server/chat_server.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/tiny_chat_server.h"

namespace dsagent::engine::server {
namespace {

class PrefillKeepAliveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tiny_.Start(ServerOptions{.model_id = "tiny",
                              .context_limit = 4096,
                              .default_max_tokens = 2,
                              .prefill_keepalive_s = 0},
                120);
  }

  httplib::Client& client() { return tiny_.client(); }
  testing::TinyChatServer tiny_;
};

// A user turn long enough to take several prefill chunks.
std::string LongText() {
  std::string text;
  for (int i = 0; i < 70; ++i) text += "line " + std::to_string(i) + " of a long file\n";
  return text;
}

// How many times `needle` occurs in `s` between `from` and `to`.
size_t CountBetween(const std::string& s, const std::string& needle, size_t from, size_t to) {
  size_t n = 0;
  for (size_t at = s.find(needle, from); at != std::string::npos && at < to;
       at = s.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The rest of the line that starts at `at`.
std::string Line(const std::string& s, size_t at) {
  const size_t end = s.find('\n', at);
  return s.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The prefill of a prompt of `prompt` tokens (all but its last token, from a fresh server's empty
// cache) in kPrefillChunkTokens pieces: at least this many whole chunks, each followed by a
// keep-alive. (The prefill may stop once more, at the last user turn's cache point, so one more
// chunk and one more keep-alive may come.)
size_t WholeChunks(int64_t prompt) { return static_cast<size_t>(prompt - 1) / kPrefillChunkTokens; }

TEST_F(PrefillKeepAliveTest, ChatCompletionsStreamSendsCommentsWhileThePromptIsComputed) {
  const OrderedJson request = {{"model", "tiny"},
                               {"stream", true},
                               {"stream_options", {{"include_usage", true}}},
                               {"messages", {{{"role", "user"}, {"content", LongText()}}}}};
  auto res = client().Post("/v1/chat/completions", request.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string& body = res->body;
  const size_t usage_at = body.rfind("data: {");
  ASSERT_NE(usage_at, std::string::npos) << body;
  const OrderedJson last = OrderedJson::parse(Line(body, usage_at + 6));
  const size_t chunks = WholeChunks(last["usage"].value("prompt_tokens", int64_t{0}));
  ASSERT_GE(chunks, 3u) << "the prompt should take several chunks: " << last.dump();
  // The stream opens (the role chunk goes out once the prompt is tokenized), then the prompt is
  // computed: the keep-alives come between that first data event and the second, the first
  // reasoning delta, and nowhere else.
  const size_t opened = body.find("data: ");
  const size_t first_delta = body.find("data: ", opened + 1);
  ASSERT_NE(first_delta, std::string::npos) << body;
  const size_t sent = CountBetween(body, ": keep-alive\n\n", opened, first_delta);
  EXPECT_GE(sent, chunks) << body;
  EXPECT_LE(sent, chunks + 2) << body;
  EXPECT_EQ(CountBetween(body, ": keep-alive\n\n", 0, std::string::npos), sent) << body;
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos) << body;
}

TEST_F(PrefillKeepAliveTest, AnthropicMessagesStreamSendsPingsWhileThePromptIsComputed) {
  const OrderedJson request = {{"model", "tiny"},
                               {"stream", true},
                               {"max_tokens", 2},
                               {"messages", {{{"role", "user"}, {"content", LongText()}}}}};
  auto res = client().Post("/v1/messages", request.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string& body = res->body;
  const size_t start_at = body.find("event: message_start\ndata: ");
  ASSERT_NE(start_at, std::string::npos) << body;
  const size_t data_at = start_at + std::string("event: message_start\ndata: ").size();
  const OrderedJson start = OrderedJson::parse(Line(body, data_at));
  const size_t chunks = WholeChunks(start["message"]["usage"].value("input_tokens", int64_t{0}));
  ASSERT_GE(chunks, 3u) << "the prompt should take several chunks: " << start.dump();
  // Anthropic's keep-alive is a `ping` event (Claude Code reads it). message_start and one ping
  // open the stream once the prompt is tokenized; the keep-alives come after them, while the
  // prompt is computed, before the first content block.
  const size_t first_block = body.find("event: content_block_start");
  ASSERT_NE(first_block, std::string::npos) << body;
  const size_t sent = CountBetween(body, "event: ping\n", start_at, first_block) - 1;
  EXPECT_GE(sent, chunks) << body;
  EXPECT_LE(sent, chunks + 2) << body;
  EXPECT_NE(body.find("event: message_stop"), std::string::npos) << body;
}

}  // namespace
}  // namespace dsagent::engine::server
