#include "engine/server/request_gate.h"

#include <gtest/gtest.h>

#include <thread>

namespace dsagent::engine::server {
namespace {

TEST(RequestGateTest, AdmitsUpToParallelAndRefusesBeyondTheLine) {
  RequestGate gate(/*parallel=*/2, /*max_waiting=*/1);
  CancelToken never;
  auto a = gate.Enter(), b = gate.Enter();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(gate.Wait(*a, never));
  ASSERT_TRUE(gate.Wait(*b, never));
  auto c = gate.Enter();  // waits: the one place in line
  ASSERT_TRUE(c);
  EXPECT_FALSE(gate.Enter());  // the line is full
  int64_t running = 0, waiting = 0;
  gate.Counts(&running, &waiting);
  EXPECT_EQ(running, 2);
  EXPECT_EQ(waiting, 1);
  a.reset();  // frees a slot: c runs, and there is room in line again
  EXPECT_TRUE(gate.Wait(*c, never));
  auto d = gate.Enter();
  EXPECT_TRUE(d);
}

TEST(RequestGateTest, FirstComeFirstServedAndGivenUpPlacesAreSkipped) {
  RequestGate gate(1, 8);
  CancelToken never;
  auto running = gate.Enter();
  ASSERT_TRUE(gate.Wait(*running, never));
  auto first = gate.Enter(), second = gate.Enter(), third = gate.Enter();
  CancelToken gives_up;
  gives_up.Cancel();
  EXPECT_FALSE(gate.Wait(*first, gives_up));  // cancelled while waiting
  first.reset();
  std::thread t([&] { EXPECT_TRUE(gate.Wait(*third, never)); });
  running.reset();
  EXPECT_TRUE(gate.Wait(*second, never));  // second before third
  second->Release();
  t.join();
  int64_t r = 0, w = 0;
  gate.Counts(&r, &w);
  EXPECT_EQ(r, 1);
  EXPECT_EQ(w, 0);
}

TEST(RequestGateTest, StopWakesWaitersAndRefusesNewPlaces) {
  RequestGate gate(1, 4);
  CancelToken never;
  auto running = gate.Enter();
  ASSERT_TRUE(gate.Wait(*running, never));
  auto waiting = gate.Enter();
  std::thread t([&] { EXPECT_FALSE(gate.Wait(*waiting, never)); });
  gate.Stop();
  t.join();
  EXPECT_FALSE(gate.Enter());
}

}  // namespace
}  // namespace dsagent::engine::server
