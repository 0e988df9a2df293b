// The server over a real loopback socket, on the tiny checkpoint and its test tokenizer.
#include "engine/server/chat_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <thread>

#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/wait_for_stats.h"
#include "tests/support/hang_guard.h"

namespace dsagent::engine::server {
namespace {
using testing::TinySequenceModel;
using testing::TinyTokenizer;

class ChatServerTest : public ::testing::Test {
 protected:
  // A fresh server (and prefix cache) each call; `speculation` as `serve --speculative`.
  void StartServer(int parallel = 1, SpeculationSettings speculation = {}) {
    server_.reset();
    cache_ = std::make_unique<InMemoryPrefixCache>();
    completer_ = std::make_unique<ChatCompleter>(TinySequenceModel(), TinyTokenizer(), cache_.get(),
                                                 nullptr, speculation);
    server_ = std::make_unique<ChatServer>(*completer_, ServerOptions{.host = "127.0.0.1",
                                                                      .port = 0,
                                                                      .parallel = parallel,
                                                                      .model_id = "tiny",
                                                                      .context_limit = 4096,
                                                                      .default_max_tokens = 8});
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(dsagent::testing::HangGuardSeconds(60), 0);
    port_ = *port;
  }
  httplib::Result Post(const std::string& body) {
    return client_->Post("/v1/chat/completions", body, "application/json");
  }

  std::unique_ptr<InMemoryPrefixCache> cache_;
  std::unique_ptr<ChatCompleter> completer_;
  std::unique_ptr<ChatServer> server_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

constexpr const char* kChat =
    R"({"model": "tiny", "max_tokens": 6, "messages": [{"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello!"}]})";

// The data payloads of an SSE body.
std::vector<OrderedJson> Events(const std::string& body, bool* done) {
  std::vector<OrderedJson> out;
  *done = false;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string data = body.substr(pos + 6, end - pos - 6);
    if (data == "[DONE]") {
      *done = true;
    } else {
      out.push_back(OrderedJson::parse(data));
    }
    pos = end;
  }
  return out;
}

TEST_F(ChatServerTest, NonStreamedCompletionAndCacheHitsOnRepeat) {
  StartServer();
  auto first = Post(kChat);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const auto a = OrderedJson::parse(first->body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], "tiny");
  const auto& u = a["usage"];
  EXPECT_GT(u["prompt_tokens"].get<int>(), 5);
  EXPECT_EQ(u["prompt_cache_hit_tokens"], 0);
  EXPECT_EQ(u["prompt_cache_miss_tokens"], u["prompt_tokens"]);
  EXPECT_EQ(u["completion_tokens"], 6);
  EXPECT_EQ(u["total_tokens"].get<int>(),
            u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
  EXPECT_TRUE(a["choices"][0]["message"].contains("reasoning_content"));  // thinking by default
  EXPECT_EQ(a["choices"][0]["finish_reason"], "length");

  auto second = Post(kChat);
  ASSERT_TRUE(second);
  const auto b = OrderedJson::parse(second->body);
  EXPECT_EQ(b["usage"]["prompt_cache_hit_tokens"].get<int>(), u["prompt_tokens"].get<int>() - 1);
  EXPECT_EQ(b["usage"]["prompt_tokens_details"]["cached_tokens"],
            b["usage"]["prompt_cache_hit_tokens"]);
  EXPECT_EQ(b["choices"][0]["message"], a["choices"][0]["message"]);  // greedy, same prefix
}

// `serve --speculative mtp`: greedy completions equal those of a server without speculation,
// and the usage shows the drafts. The repeat is answered from a state a speculating request
// stored, the follow-up turn from a cache point prefilled beside the MTP block: both still draft
// (a state whose MTP part lagged would decode plainly, and show no drafts).
TEST_F(ChatServerTest, SpeculativeDecodingGivesTheSameGreedyCompletions) {
  const std::string follow_up =
      R"({"model": "tiny", "max_tokens": 12, "messages": [{"role": "system", "content":
          "Be brief."}, {"role": "user", "content": "Hello!"}, {"role": "assistant", "content":
          "Hi."}, {"role": "user", "content": "What is two and two?"}]})";
  const std::string chat = std::string(kChat).replace(std::string(kChat).find("6"), 1, "12");
  std::vector<OrderedJson> replies[2];
  for (const bool speculate : {false, true}) {
    StartServer(1,
                speculate ? SpeculationSettings{.mode = Speculative::kMtp} : SpeculationSettings{});
    for (const std::string& body : {chat, chat, follow_up}) {
      auto r = Post(body);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      replies[speculate].push_back(OrderedJson::parse(r->body));
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    const OrderedJson &plain = replies[0][i], &spec = replies[1][i];
    EXPECT_EQ(spec["choices"][0]["message"], plain["choices"][0]["message"]) << "request " << i;
    EXPECT_EQ(spec["usage"]["completion_tokens"], plain["usage"]["completion_tokens"]);
    EXPECT_EQ(spec["usage"]["prompt_cache_hit_tokens"], plain["usage"]["prompt_cache_hit_tokens"]);
    EXPECT_FALSE(plain["usage"].contains("speculative"));
    ASSERT_TRUE(spec["usage"].contains("speculative")) << "request " << i << ": " << spec["usage"];
    const auto& s = spec["usage"]["speculative"];
    // Every token after the first comes from a verify step: a rejected draft's step gives one
    // token, an accepted one two (one when the draft is the last token).
    EXPECT_GE(s["drafted_tokens"].get<int>() + s["accepted_tokens"].get<int>(),
              spec["usage"]["completion_tokens"].get<int>() - 1);
    EXPECT_GT(s["drafted_tokens"].get<int>(), 0);
    EXPECT_LE(s["accepted_tokens"].get<int>(), s["drafted_tokens"].get<int>());
  }
  EXPECT_GT(replies[1][1]["usage"]["prompt_cache_hit_tokens"].get<int>(), 0);
  EXPECT_GT(replies[1][2]["usage"]["prompt_cache_hit_tokens"].get<int>(), 0);
}

TEST_F(ChatServerTest, StreamedCompletionMatchesTheNonStreamedOne) {
  StartServer();
  auto plain = Post(kChat);
  ASSERT_TRUE(plain);
  const auto message = OrderedJson::parse(plain->body)["choices"][0]["message"];
  OrderedJson req = OrderedJson::parse(kChat);
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto streamed = Post(req.dump());
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  EXPECT_NE(streamed->get_header_value("Content-Type").find("text/event-stream"),
            std::string::npos);
  bool done = false;
  const auto events = Events(streamed->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string content, reasoning, finish;
  for (const auto& e : events) {
    if (e["choices"].empty()) continue;
    const auto& d = e["choices"][0]["delta"];
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(content, message["content"]);
  EXPECT_EQ(reasoning, message["reasoning_content"]);
  EXPECT_EQ(finish, "length");
  const auto& last = events.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], 6);
  EXPECT_GT(last["usage"]["prompt_cache_hit_tokens"].get<int>(), 0);
}

TEST_F(ChatServerTest, BadRequestsGetCleanErrors) {
  StartServer();
  auto malformed = Post("{\"messages\": [");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_TRUE(OrderedJson::parse(malformed->body)["error"].contains("message"));
  auto wrong_type = Post(R"({"messages": [{"role": "user", "content": "x"}], "top_k": "a"})");
  ASSERT_TRUE(wrong_type);
  EXPECT_EQ(wrong_type->status, 400);
  EXPECT_EQ(OrderedJson::parse(wrong_type->body)["error"]["param"], "top_k");
  OrderedJson huge = OrderedJson::parse(kChat);
  huge["messages"][1]["content"] = std::string(20000, 'z');
  auto too_long = Post(huge.dump());
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->status, 400);
  EXPECT_EQ(OrderedJson::parse(too_long->body)["error"]["code"], "context_length_exceeded");
  auto models = client_->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(OrderedJson::parse(models->body)["data"][0]["id"], "tiny");
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(OrderedJson::parse(health->body)["status"], "ok");
  // Still serving.
  auto ok = Post(kChat);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ChatServerTest, ModelsListInTheShapeOfTheClientsApi) {
  StartServer();
  auto openai = client_->Get("/v1/models");
  ASSERT_TRUE(openai);
  const auto o = OrderedJson::parse(openai->body);
  EXPECT_EQ(o["object"], "list");
  EXPECT_EQ(o["data"][0]["object"], "model");
  EXPECT_EQ(o["data"][0]["id"], "tiny");
  EXPECT_GT(o["data"][0]["created"].get<int64_t>(), 1700000000);

  // Anthropic clients send anthropic-version (and their key as x-api-key).
  for (const httplib::Headers& headers : {httplib::Headers{{"anthropic-version", "2023-06-01"}},
                                          httplib::Headers{{"x-api-key", "anything"}}}) {
    auto anthropic = client_->Get("/v1/models", headers);
    ASSERT_TRUE(anthropic);
    ASSERT_EQ(anthropic->status, 200);
    const auto a = OrderedJson::parse(anthropic->body);
    ASSERT_EQ(a["data"].size(), 1u);
    EXPECT_EQ(a["data"][0]["type"], "model");
    EXPECT_EQ(a["data"][0]["id"], "tiny");
    EXPECT_TRUE(a["data"][0]["display_name"].is_string());
    // RFC 3339, UTC.
    const std::string created = a["data"][0]["created_at"];
    EXPECT_EQ(created.size(), 20u) << created;
    EXPECT_EQ(created.back(), 'Z');
    EXPECT_EQ(created[10], 'T');
    EXPECT_EQ(a["has_more"], false);
    EXPECT_EQ(a["first_id"], "tiny");
    EXPECT_EQ(a["last_id"], "tiny");
    EXPECT_FALSE(a.contains("object"));
  }

  auto one = client_->Get("/v1/models/tiny", {{"anthropic-version", "2023-06-01"}});
  ASSERT_TRUE(one);
  EXPECT_EQ(OrderedJson::parse(one->body)["type"], "model");
  auto missing = client_->Get("/v1/models/other", {{"anthropic-version", "2023-06-01"}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(OrderedJson::parse(missing->body)["type"], "error");
  auto missing_openai = client_->Get("/v1/models/other");
  ASSERT_TRUE(missing_openai);
  EXPECT_EQ(missing_openai->status, 404);
  EXPECT_EQ(OrderedJson::parse(missing_openai->body)["error"]["code"], "model_not_found");
}

TEST_F(ChatServerTest, ConcurrentRequestsAreAllServedCorrectly) {
  StartServer(/*parallel=*/2);
  auto reference = Post(kChat);
  ASSERT_TRUE(reference);
  const auto expected = OrderedJson::parse(reference->body)["choices"][0]["message"];
  std::vector<std::thread> threads;
  std::vector<OrderedJson> got(5);
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(120, 0);
      OrderedJson req = OrderedJson::parse(kChat);
      if (i % 2 == 1) req["stream"] = true;
      auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
      if (!r || r->status != 200) return;
      if (i % 2 == 0) {
        got[static_cast<size_t>(i)] = OrderedJson::parse(r->body)["choices"][0]["message"];
      } else {
        bool done = false;
        std::string content;
        for (const auto& e : Events(r->body, &done)) {
          if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content")) {
            content += e["choices"][0]["delta"]["content"].get<std::string>();
          }
        }
        got[static_cast<size_t>(i)] = {{"content", content}};
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(got[i].is_null()) << "request " << i << " failed";
    EXPECT_EQ(got[i]["content"], expected["content"]) << i;
  }
  EXPECT_EQ(server_->stats().completed, 6);
}

TEST_F(ChatServerTest, ClientThatHangsUpStopsItsGeneration) {
  StartServer(/*parallel=*/1);
  OrderedJson req = OrderedJson::parse(kChat);
  req["stream"] = true;
  req["max_tokens"] = 3000;  // ~10+ s on the tiny model if it ran to the end
  int chunks = 0;
  httplib::Client c("127.0.0.1", port_);
  httplib::Request hang_up;
  hang_up.method = "POST";
  hang_up.path = "/v1/chat/completions";
  hang_up.body = req.dump();
  hang_up.set_header("Content-Type", "application/json");
  hang_up.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  auto r = c.send(hang_up);
  EXPECT_FALSE(r);  // we hung up
  // The server notices the hang-up and stops the generation part-way: the request ends counted
  // as cancelled (one that ran its 3000 tokens to the end would not be).
  ASSERT_TRUE(testing::WaitForStats(*server_, [](const auto& s) { return s.completed == 1; }));
  EXPECT_EQ(server_->stats().cancelled, 1);
  EXPECT_EQ(server_->stats().running, 0);
  // The single slot is free again: a new request is served.
  auto next = Post(kChat);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(server_->stats().cancelled, 1);
}

}  // namespace
}  // namespace dsagent::engine::server
