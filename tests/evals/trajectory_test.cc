#include "evals/trajectory.h"

#include <gtest/gtest.h>

namespace dsagent::evals {
namespace {

TEST(TrajectoryTest, MessagesOfTheTraceBecomeDocumentedLines) {
  // Events as agent/core writes them (trimmed): only those carrying messages become lines.
  const std::vector<Json> events = {
      {{"type", "session_start"}, {"system_prompt", "You are dsagent."}, {"ts", "t0"}},
      {{"type", "message"}, {"message", {{"role", "user"}, {"content", "Fix clamp()"}}}, {"ts", "t1"}},
      {{"type", "request"}, {"step", 1}, {"model", "deepseek-v4-flash"}, {"ts", "t2"}},
      {{"type", "response"},
       {"step", 1},
       {"model", "deepseek-v4-flash"},
       {"usage", {{"output", 7}}},
       {"cost_usd", 0.5},
       {"message",
        {{"role", "assistant"},
         {"content", ""},
         {"reasoning_content", "look at numeric.py"},
         {"tool_calls",
          Json::array({{{"id", "c1"},
                        {"type", "function"},
                        {"function", {{"name", "edit_file"}, {"arguments", "{\"path\":\"n.py\"}"}}}}})}}},
       {"ts", "t3"}},
      {{"type", "tool"},
       {"step", 1},
       {"name", "edit_file"},
       {"ok", true},
       {"duration_ms", 4},
       {"message", {{"role", "tool"}, {"content", "edited"}, {"tool_call_id", "c1"}}},
       {"ts", "t4"}}};
  const std::vector<Json> traj = TrajectoryFromTrace(events);
  ASSERT_EQ(traj.size(), 4u);
  EXPECT_EQ(traj[0], (Json{{"role", "system"}, {"content", "You are dsagent."}, {"ts", "t0"}}));
  EXPECT_EQ(traj[1], (Json{{"role", "user"}, {"content", "Fix clamp()"}, {"ts", "t1"}}));
  EXPECT_EQ(traj[2]["role"], "assistant");
  EXPECT_EQ(traj[2]["reasoning"], "look at numeric.py");
  EXPECT_EQ(traj[2]["tool_calls"],
            Json::array({{{"id", "c1"}, {"name", "edit_file"}, {"arguments", "{\"path\":\"n.py\"}"}}}));
  EXPECT_EQ(traj[2]["cost_usd"], 0.5);
  EXPECT_EQ(traj[2]["step"], 1);
  EXPECT_EQ(traj[3], (Json{{"role", "tool"},
                           {"content", "edited"},
                           {"step", 1},
                           {"tool_call_id", "c1"},
                           {"name", "edit_file"},
                           {"ok", true},
                           {"duration_ms", 4},
                           {"ts", "t4"}}));
}

}  // namespace
}  // namespace dsagent::evals
