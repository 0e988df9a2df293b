// The server's limits and bad-input handling over a real loopback socket on the tiny checkpoint:
// a full line (503 + Retry-After), clients that leave, deadlines, body and prompt sizes, API keys,
// stopping with work in flight, and 64 concurrent clients.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "engine/server/chat_server.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/wait_for_stats.h"

namespace dsagent::engine::server {
namespace {
using testing::TinySequenceModel;
using testing::TinyTokenizer;

constexpr const char* kLimitsChatBody =
    R"({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "Hello!"}]})";

// A request that would run for many seconds (3000 tokens) unless something stops it.
// A reply of exactly 3000 tokens (ignore_eos: the random-weight model may emit EOS at any point),
// seconds of work on any machine.
std::string LongChat(bool stream) {
  OrderedJson req = OrderedJson::parse(kLimitsChatBody);
  req["max_tokens"] = 3000;
  req["ignore_eos"] = true;
  req["stream"] = stream;
  return req.dump();
}

class ChatServerLimitsTest : public ::testing::Test {
 protected:
  void Start(ServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    o.model_id = "tiny";
    o.context_limit = 4096;
    o.default_max_tokens = 8;
    completer_ = std::make_unique<ChatCompleter>(TinySequenceModel(), TinyTokenizer(), &cache_);
    server_ = std::make_unique<ChatServer>(*completer_, o);
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    port_ = *port;
  }
  httplib::Result Post(const std::string& body, const httplib::Headers& headers = {}) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c.Post("/v1/chat/completions", headers, body, "application/json");
  }
  bool WaitFor(const std::function<bool(const ChatServer::Stats&)>& done) {
    return testing::WaitForStats(*server_, done);
  }
  static std::string Code(const httplib::Result& r) {
    const auto j = OrderedJson::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
  }

  InMemoryPrefixCache cache_;
  std::unique_ptr<ChatCompleter> completer_;
  std::unique_ptr<ChatServer> server_;
  int port_ = 0;
};

TEST_F(ChatServerLimitsTest, AFullLineIsRefusedWith503AndRetryAfter) {
  Start({.parallel = 1, .max_queue = 0});
  std::promise<void> streaming;
  std::atomic<bool> hang_up{false};
  std::thread first([&] {
    httplib::Client c("127.0.0.1", port_);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = LongChat(true);
    req.set_header("Content-Type", "application/json");
    bool told = false;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      if (!told) streaming.set_value();
      told = true;
      return !hang_up.load();
    };
    c.send(req);
  });
  streaming.get_future().wait();  // the one slot is taken
  auto refused = Post(kLimitsChatBody);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(Code(refused), "server_busy");
  ASSERT_TRUE(refused->has_header("Retry-After"));
  EXPECT_GE(std::stoi(refused->get_header_value("Retry-After")), 1);
  EXPECT_EQ(server_->stats().refused_queue_full, 1);
  hang_up = true;
  first.join();
  // The client's hang-up frees the slot; then requests are served again.
  ASSERT_TRUE(WaitFor([](const auto& s) { return s.running == 0 && s.cancelled == 1; }));
  auto ok = Post(kLimitsChatBody);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(ChatServerLimitsTest, ANonStreamedClientThatLeavesFreesItsSlot) {
  Start({.parallel = 1});
  httplib::Client impatient("127.0.0.1", port_);
  impatient.set_read_timeout(0, 200000);  // 0.2 s: gives up long before 3000 tokens
  auto gone = impatient.Post("/v1/chat/completions", LongChat(false), "application/json");
  EXPECT_FALSE(gone);
  impatient.stop();
  ASSERT_TRUE(WaitFor([](const auto& s) { return s.cancelled == 1 && s.running == 0; }));
  auto ok = Post(kLimitsChatBody);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(ChatServerLimitsTest, ARequestOverItsWallTimeGets504) {
  Start({.request_timeout_s = 0.3});
  auto plain = Post(LongChat(false));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 504) << plain->body;
  EXPECT_EQ(Code(plain), "request_timeout");
  auto streamed = Post(LongChat(true));
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);  // committed before the deadline; the error is an event
  EXPECT_NE(streamed->body.find("\"request_timeout\""), std::string::npos) << streamed->body;
  EXPECT_EQ(streamed->body.find("[DONE]"), std::string::npos);
}

TEST_F(ChatServerLimitsTest, BodyAndPromptLimitsAreCheckedBeforeGeneration) {
  Start({.max_body_bytes = 2000, .max_prompt_tokens = 12});
  OrderedJson big = OrderedJson::parse(kLimitsChatBody);
  big["messages"][0]["content"] = std::string(5000, 'x');
  auto too_big = Post(big.dump());
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_EQ(Code(too_big), "request_too_large");
  OrderedJson longer = OrderedJson::parse(kLimitsChatBody);
  longer["messages"][0]["content"] = std::string(300, 'y') + " and more words here";
  auto too_long = Post(longer.dump());
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->status, 400);
  const auto err = OrderedJson::parse(too_long->body)["error"];
  EXPECT_EQ(err["param"], "messages");
  EXPECT_NE(err["message"].get<std::string>().find("--max-prompt-tokens"), std::string::npos);
  EXPECT_EQ(server_->stats().completed, 0);
}

TEST_F(ChatServerLimitsTest, AHugeRunOfOneCharacterIsTokenizedAndRefusedQuickly) {
  Start({});
  OrderedJson huge = OrderedJson::parse(kLimitsChatBody);
  huge["messages"][0]["content"] = std::string(1 << 20, 'a');  // took minutes before
  auto r = Post(huge.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Code(r), "context_length_exceeded");
}

// Sends `partial` on a raw connection, then stalls; returns what the server sent before it closed
// the connection ("" if nothing). A 60 s receive timeout guards against a server that never does.
std::string StallAfter(int port, const std::string& partial) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval guard{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      write(fd, partial.data(), partial.size()) == static_cast<ssize_t>(partial.size())) {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    if (errno == EAGAIN) got = "<still open after 60 s>";
  }
  close(fd);
  return got;
}

TEST_F(ChatServerLimitsTest, SlowClientsAreDisconnectedAfterTheReadTimeout) {
  Start({.read_timeout_s = 1, .body_timeout_s = 1});
  // Headers that never end, and a body that stops short of its Content-Length.
  const std::string headers =
      StallAfter(port_, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(headers.find("still open"), std::string::npos);
  EXPECT_EQ(headers.find("200 OK"), std::string::npos) << headers;
  const std::string body = StallAfter(
      port_,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"messages\": [");
  EXPECT_EQ(body.find("still open"), std::string::npos);
  EXPECT_EQ(body.find("200 OK"), std::string::npos) << body;
  EXPECT_EQ(server_->stats().requests, 0);  // neither reached the handler
  auto ok = Post(kLimitsChatBody);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// Sends `prefix` at once, then `drip` one byte every 100 ms, watching for the server to answer or
// close the connection between bytes (the 100 ms wait for that is the drip's own pace). Returns
// how many bytes of `drip` went out before it did; drip.size() if it never did.
size_t DripUntilClosed(int port, const std::string& prefix, const std::string& drip) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  size_t sent = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(prefix.size())) {
    for (; sent < drip.size(); ++sent) {
      if (send(fd, &drip[sent], 1, MSG_NOSIGNAL) != 1) break;
      // Anything from the server (an error, or the end of the connection) ends the drip.
      pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
      if (poll(&p, 1, 100) > 0) break;
    }
  }
  close(fd);
  return sent;
}

// A client that sends one byte just before each read would time out used to keep its connection
// (and a worker) forever: the timeouts are totals for the headers and for the body. With 1 s
// deadlines and a byte every 100 ms, the server closes the connection long before the 150-byte
// drip (15 s) is through.
TEST_F(ChatServerLimitsTest, SlowDripClientsAreCutOffByTotalDeadlines) {
  Start({.read_timeout_s = 1, .body_timeout_s = 1});
  const std::string headers =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(100, 'p') +
      "\r\nContent-Type: application/json\r\nContent-Length: 150\r\n\r\n";
  const size_t header_bytes = DripUntilClosed(port_, "", headers.substr(0, 150));
  EXPECT_LT(header_bytes, 150u) << "the header drip was never cut off";
  const size_t body_bytes = DripUntilClosed(port_, headers, std::string(150, ' '));
  EXPECT_LT(body_bytes, 150u) << "the body drip was never cut off";
  EXPECT_EQ(server_->stats().requests, 0);  // neither reached the handler
  auto ok = Post(kChat);  // the server still answers
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ChatServerLimitsTest, WrongTypesGet400NamingTheField) {
  Start({});
  const std::pair<std::string, std::string> cases[] = {
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": 1, "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools"},
  };
  for (const auto& [body, field] : cases) {
    auto r = Post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_EQ(OrderedJson::parse(r->body)["error"]["param"], field) << body;
  }
  for (const char* body : {"", "{", "[1, 2]", "\xff\xfe"}) {
    auto r = Post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_TRUE(OrderedJson::parse(r->body)["error"].contains("message"));
  }
}

TEST_F(ChatServerLimitsTest, AnApiKeyIsRequiredWhereSet) {
  Start({.api_key = "s3cret"});
  auto none = Post(kLimitsChatBody);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(Code(none), "invalid_api_key");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong = Post(kLimitsChatBody, {{"Authorization", "Bearer s3cre"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto right = Post(kLimitsChatBody, {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  httplib::Client c("127.0.0.1", port_);
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(ChatServerAccessTest, ANonLoopbackHostNeedsAnApiKey) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("192.168.1.5"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_TRUE(CheckAccessOptions({.host = "127.0.0.1"}));
  EXPECT_TRUE(CheckAccessOptions({.host = "0.0.0.0", .api_key = "k"}));
  auto refused = CheckAccessOptions({.host = "0.0.0.0"});
  ASSERT_FALSE(refused);
  const std::string why = refused.error();
  EXPECT_NE(why.find("--api-key"), std::string::npos) << why;
  InMemoryPrefixCache cache;
  ChatCompleter completer(TinySequenceModel(), TinyTokenizer(), &cache);
  ChatServer server(completer, {.host = "0.0.0.0", .port = 0});
  auto started = server.Start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error(), why);
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST_F(ChatServerLimitsTest, StopCancelsRunningAndQueuedRequests) {
  Start({.parallel = 1});
  std::future<int> running = std::async(std::launch::async, [&] {
    auto r = Post(LongChat(false));
    return r ? r->status : -1;
  });
  ASSERT_TRUE(WaitFor([](const auto& s) { return s.running == 1; }));
  std::future<int> queued = std::async(std::launch::async, [&] {
    auto r = Post(kLimitsChatBody);
    return r ? r->status : -1;
  });
  ASSERT_TRUE(WaitFor([](const auto& s) { return s.waiting == 1; }));
  server_->Stop();
  EXPECT_EQ(running.get(), 503);
  EXPECT_EQ(queued.get(), 503);
  EXPECT_EQ(server_->stats().cancelled, 2);
}

TEST_F(ChatServerLimitsTest, SixtyFourClientsAreEachAnsweredOrRefusedWith503) {
  Start({.parallel = 2, .max_queue = 8});
  constexpr int kClients = 64;
  std::vector<std::thread> clients;
  std::vector<int> status(kClients, 0);
  // Not vector<bool>: it packs the flags into shared words, so the clients' writes would race.
  std::vector<char> well_formed(kClients, 0);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      OrderedJson req = OrderedJson::parse(kLimitsChatBody);
      req["stream"] = i % 2 == 1;
      req["messages"][0]["content"] = "client " + std::to_string(i % 4);
      auto r = Post(req.dump());
      if (!r) {
        status[static_cast<size_t>(i)] = -static_cast<int>(r.error());
        return;
      }
      status[static_cast<size_t>(i)] = r->status;
      if (r->status == 503) {
        well_formed[static_cast<size_t>(i)] =
            r->has_header("Retry-After") && Code(r) == "server_busy";
      } else if (i % 2 == 1) {
        well_formed[static_cast<size_t>(i)] = r->body.find("data: [DONE]") != std::string::npos;
      } else {
        well_formed[static_cast<size_t>(i)] =
            OrderedJson::parse(r->body, nullptr, false).contains("choices");
      }
    });
  }
  for (auto& t : clients) t.join();
  int served = 0, refused = 0;
  for (int i = 0; i < kClients; ++i) {
    EXPECT_TRUE(status[static_cast<size_t>(i)] == 200 || status[static_cast<size_t>(i)] == 503)
        << "client " << i << ": " << status[static_cast<size_t>(i)];
    EXPECT_TRUE(well_formed[static_cast<size_t>(i)]) << "client " << i;
    served += status[static_cast<size_t>(i)] == 200;
    refused += status[static_cast<size_t>(i)] == 503;
  }
  EXPECT_EQ(served + refused, kClients);
  EXPECT_GE(served, 1);
  const auto s = server_->stats();
  EXPECT_EQ(s.requests, kClients);
  EXPECT_EQ(s.refused_queue_full, refused);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.waiting, 0);
}

}  // namespace
}  // namespace dsagent::engine::server
