// What a power loss can take from a session's trace, checked in the real AgentLoop: at the moment
// each tool call runs, the part of the trace that a sync has covered (TraceWriter::synced_bytes)
// is cut out as the file a power loss would leave, and loaded as `--resume` loads it. The rule: a
// call with an effect (anything but a read) runs only once the response that asked for it is on
// disk, so resume settles it instead of asking the model again; a step of reads only may be lost
// whole, and then resume holds exactly the session before that step. In no case is a step held
// twice.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "agent/config/model_catalog.h"
#include "agent/core/agent_loop.h"
#include "agent/core/session_store.h"
#include "agent/core/tool_specs.h"
#include "agent/providers/provider_factory.h"
#include "common/file_io.h"
#include "tests/support/deepseek_test_server.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using testing::DeepSeekTestServer;
using testing::ScriptedCall;
using testing::ScriptedReply;

constexpr const char* kKey = "test-key-durability";

// The trace as a power loss at some moment would leave it.
struct PowerLossImage {
  std::string tag;  // the "tag" argument of the call that was about to run
  std::string bytes;
};

// Stands in for a built-in tool of the same name (so that it is classified like it): records the
// trace's synced prefix at the moment it runs, before it would have any effect.
class SnapshotTool : public Tool {
 public:
  SnapshotTool(std::string name, const TraceWriter* const* trace,
               std::vector<PowerLossImage>* images)
      : name_(std::move(name)), trace_(trace), images_(images) {}
  std::string Name() const override { return name_; }
  Json Schema() const override {
    return {{"type", "object"}, {"properties", {{"tag", {{"type", "string"}}}}}};
  }
  ToolResult Run(const Json& args, const ToolContext&) override {
    const TraceWriter& trace = **trace_;
    auto all = ReadFileToString(trace.path());
    EXPECT_TRUE(all) << all.error();
    if (all) images_->push_back({args.value("tag", ""), all->substr(0, trace.synced_bytes())});
    return {true, name_ + " " + args.value("tag", "") + " done"};
  }

 private:
  std::string name_;
  const TraceWriter* const* trace_;
  std::vector<PowerLossImage>* images_;
};

class TraceDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kKey);
    registry_.Add(std::make_unique<SnapshotTool>("read_file", &trace_ptr_, &images_));
    registry_.Add(std::make_unique<SnapshotTool>("write_file", &trace_ptr_, &images_));
  }

  // Runs a new session (session_start and the task, as AgentSession writes them) to its end.
  Context Run() {
    ProviderOptions p;
    p.kind = "deepseek";
    p.base_url = server_.BaseUrl();
    p.api_key = kKey;
    p.retry.max_attempts = 1;
    auto provider = MakeProvider(p);
    EXPECT_TRUE(provider);
    Context context("You are a test.", ToolSpecsOf(registry_));
    auto trace = TraceWriter::Open(trace_path_);
    EXPECT_TRUE(trace) << trace.error();
    trace_ptr_ = &*trace;
    EXPECT_TRUE(trace->Append({{"type", "session_start"},
                               {"session_id", "durability"},
                               {"system_prompt", context.system_prompt()},
                               {"tools", ToolSpecsToJson(context.tools())}}));
    const Message task = UserMessage("Do the task.");
    EXPECT_TRUE(trace->Append({{"type", "message"}, {"message", MessageToJson(task)}}));
    context.Append(task);
    ToolContext tool_ctx;
    tool_ctx.workspace = dir_.path();
    AgentLoop loop(**provider, registry_, tool_ctx, *trace, ModelCatalog::BuiltIn());
    AgentSettings settings;
    settings.lane = {"deepseek-v4-flash", true, "high"};
    AgentObserver observer;
    const RunReport report = loop.Run(context, settings, observer, CancelToken());
    EXPECT_EQ(report.termination.reason, TerminationReason::kDone);
    trace_ptr_ = nullptr;
    return context;
  }

  // The session `--resume` would rebuild from the image of call `tag`.
  StoredSession Load(const std::string& tag) {
    const PowerLossImage* image = nullptr;
    for (const auto& i : images_) {
      if (i.tag == tag) image = &i;
    }
    EXPECT_NE(image, nullptr) << tag;
    const auto path = dir_.path() / ("image-" + tag + ".jsonl");
    std::ofstream(path, std::ios::binary) << (image ? image->bytes : "");
    auto s = LoadSession(path);
    EXPECT_TRUE(s) << s.error();
    if (!s) return StoredSession{"", Json(), Context("", {}), false, Json()};
    return std::move(*s);
  }

  // The index in the session's full log of the response that made the call with `id`.
  static size_t ResponseIndex(const Context& full, const std::string& id) {
    const auto log = full.log();
    for (size_t i = 0; i < log.size(); ++i) {
      for (const ToolCall& c : log[i].tool_calls) {
        if (c.id == id) return i;
      }
    }
    ADD_FAILURE() << "no response calls " << id;
    return 0;
  }

  // The image's log is the first messages of the full log, each answer after its call, none twice.
  static void ExpectPrefixOfRun(const StoredSession& image, const Context& full) {
    const auto got = image.context.log();
    const auto want = full.log();
    ASSERT_LE(got.size(), want.size());
    std::set<std::string> called, answered;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(MessageToJson(got[i]), MessageToJson(want[i])) << "message " << i;
      for (const ToolCall& c : got[i].tool_calls) called.insert(c.id);
      if (got[i].role == Role::kTool) {
        EXPECT_TRUE(called.count(got[i].tool_call_id)) << got[i].tool_call_id;
        EXPECT_TRUE(answered.insert(got[i].tool_call_id).second) << got[i].tool_call_id;
      }
    }
  }

  static std::vector<std::string> Unanswered(const StoredSession& s) {
    std::vector<std::string> ids;
    for (const ToolCall& c : s.context.UnansweredToolCalls()) ids.push_back(c.id);
    return ids;
  }

  TempDir dir_;
  DeepSeekTestServer server_;
  ToolRegistry registry_;
  const TraceWriter* trace_ptr_ = nullptr;
  std::vector<PowerLossImage> images_;
  std::filesystem::path trace_path_ = dir_.path() / "trace.jsonl";
};

TEST_F(TraceDurabilityTest, ACallWithAnEffectRunsOnlyOnceItsResponseIsOnDisk) {
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("r1", "read_file", {{"tag", "r1"}})}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("w1", "write_file", {{"tag", "w1"}})}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("r2", "read_file", {{"tag", "r2"}}),
                                        ScriptedCall("w2", "write_file", {{"tag", "w2"}})}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("r3", "read_file", {{"tag", "r3"}}),
                                        ScriptedCall("r4", "read_file", {{"tag", "r4"}})}));
  server_.Enqueue(ScriptedReply::Text("finished"));
  const Context full = Run();
  ASSERT_EQ(images_.size(), 6u);
  for (const PowerLossImage& image : images_) {
    SCOPED_TRACE(image.tag);
    ExpectPrefixOfRun(Load(image.tag), full);
  }

  // A write: its response is on disk, so resume settles the call and does not ask again.
  EXPECT_EQ(Unanswered(Load("w1")), std::vector<std::string>{"w1"});
  EXPECT_EQ(Load("w1").context.log().size(), ResponseIndex(full, "w1") + 1);
  // A response that mixes reads and a write is on disk before its first call, a read, runs.
  EXPECT_EQ(Unanswered(Load("r2")), (std::vector<std::string>{"r2", "w2"}));
  EXPECT_EQ(Unanswered(Load("w2")), std::vector<std::string>{"w2"});

  // A step of reads only may be lost whole: the image is the session before the step, and resume
  // sends the step's request again.
  for (const char* tag : {"r1", "r3"}) {
    SCOPED_TRACE(tag);
    const StoredSession s = Load(tag);
    EXPECT_TRUE(Unanswered(s).empty());
    EXPECT_EQ(s.context.log().size(), ResponseIndex(full, tag));
  }
  // Its later calls run after the first result's sync, which took the response with it.
  EXPECT_EQ(Unanswered(Load("r4")), std::vector<std::string>{"r4"});
}

}  // namespace
}  // namespace dsagent
