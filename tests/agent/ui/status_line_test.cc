#include "agent/ui/status_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/ui/screen.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

StatusFields Sample() {
  StatusFields f;
  f.lane = {"deepseek-v4-flash", true, "high"};
  f.policy = "cache-aware";
  f.context_tokens = 12345;
  f.context_window = 1048576;
  f.session_cost_usd = 0.0123;
  f.turn_cost_usd = 0.0021;
  f.last_hit = 0.97;
  f.session_hit = 0.913;
  return f;
}

TEST(StatusLineTest, ShowsLaneContextCostAndCacheHits) {
  const std::string line = FormatStatusLine(Sample(), 0);
  EXPECT_EQ(line,
            "flash·high [cache-aware] │ ctx 12.3k/1.0M │ $0.0123 (turn $0.0021) │ cache 97% last · "
            "91% session");
}

TEST(StatusLineTest, NarrowTerminalsDropDetailFirstAndNeverOverflow) {
  for (int width : {100, 80, 60, 40, 30, 20, 10}) {
    const std::string line = FormatStatusLine(Sample(), width);
    EXPECT_LE(DisplayWidth(line), static_cast<size_t>(width)) << line;
  }
  const std::string mid = FormatStatusLine(Sample(), 60);
  EXPECT_THAT(mid, HasSubstr("$0.0123"));
  EXPECT_THAT(mid, Not(HasSubstr("turn")));
  EXPECT_THAT(mid, HasSubstr("flash·high"));
}

TEST(StatusLineTest, LaneLabels) {
  EXPECT_EQ(LaneLabel({"deepseek-v4-pro", true, "max"}), "pro·max");
  EXPECT_EQ(LaneLabel({"deepseek-v4-flash", false, "high"}), "flash·no-think");
  EXPECT_EQ(LaneLabel({"qwen3-coder", true, "high"}), "qwen3-coder·high");
}

TEST(StatusLineTest, BeforeAnyCallThereIsNoCacheField) {
  StatusFields f = Sample();
  f.last_hit.reset();
  f.session_hit.reset();
  EXPECT_THAT(FormatStatusLine(f, 0), Not(HasSubstr("% last")));
  EXPECT_THAT(FormatStatusLine(f, 0), Not(HasSubstr("% session")));
}

}  // namespace
}  // namespace dsagent
