// `dsagent serve` on a GPU that a device fault loses, end to end on the CUDA emulator
// (tests/cuda_emulator; built only there, where a fault can be injected): the real device model
// on cuda:0 through EngineRuntime, a kernel of a request's prompt faulting as an illegal memory
// access does (dsagent_emu::FaultAtLaunch, sticky as on a GPU). The request gets 503
// engine_unavailable naming the device and the CUDA error, with x-should-retry: false, /health
// turns 503, a later request gets the same reason, and the front end's wait returns
// the reason (serve then exits for its supervisor to restart it). The stand-in model's tests
// (lost_model_server_test.cc) cover the server's side in detail; this one checks that the real
// device model's loss reaches it.
#include <cuda_runtime.h>  // the emulator's: dsagent_emu::FaultAtLaunch
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "common/json.h"
#include "engine/runtime/engine_runtime.h"
#include "engine/server/chat_server.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::server {
namespace {

using ::testing::HasSubstr;

constexpr const char* kHiRequest =
    R"({"model": "tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]})";

TEST(LostGpuServerTest, ADeviceFaultAnswers503AndEndsTheFrontEndsWait) {
  REQUIRE_CUDA_DEVICE();
  const auto data = kernels::cuda::test_support::TestDataDir();
  auto runtime = EngineRuntime::Open({.model_dir = data / "v4-tiny",
                                      .tokenizer_file = data / "v4-tiny-tokenizer/tokenizer.json",
                                      .threads = 1,
                                      .device = {kernels::DeviceKind::kCuda, 0},
                                      .context = 64});
  ASSERT_TRUE(runtime) << runtime.error();
  ChatServer server((*runtime)->completer(), ServerOptions{.host = "127.0.0.1",
                                                           .port = 0,
                                                           .model_id = "tiny",
                                                           .context_limit = 64,
                                                           .default_max_tokens = 2});
  auto port = server.Start();
  ASSERT_TRUE(port) << port.error();
  httplib::Client client("127.0.0.1", *port);
  client.set_read_timeout(600, 0);

  auto healthy = client.Post("/v1/chat/completions", kHiRequest, "application/json");
  ASSERT_TRUE(healthy);
  ASSERT_EQ(healthy->status, 200) << healthy->body;

  dsagent_emu::FaultAtLaunch(5);  // inside the next prompt's forward pass
  auto failed = client.Post("/v1/chat/completions", kHiRequest, "application/json");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503) << failed->body;
  EXPECT_EQ(failed->get_header_value("x-should-retry"), "false");
  const Json error = Json::parse(failed->body)["error"];
  EXPECT_EQ(error["code"], "engine_unavailable") << failed->body;
  const std::string reason = error["message"];
  EXPECT_THAT(reason, HasSubstr("cuda:0 is lost to a device fault"));
  EXPECT_THAT(reason, HasSubstr("an illegal memory access was encountered"));

  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(Json::parse(health->body)["error"], reason);

  // Every later request, in any API, is told the same.
  auto later = client.Post("/v1/messages", kHiRequest, "application/json");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 503) << later->body;
  EXPECT_EQ(Json::parse(later->body)["error"]["message"], reason);

  CancelToken never;
  EXPECT_EQ(server.WaitForCancelOrLoss(never), reason);
  server.Stop();
  runtime->reset();  // frees fail on the lost context; nothing throws
  dsagent_emu::ClearDeviceFault();
}

}  // namespace
}  // namespace dsagent::engine::server
