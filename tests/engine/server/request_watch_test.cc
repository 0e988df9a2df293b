// RequestWatch over real loopback TCP connections.
#include "engine/server/request_watch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

namespace dsagent::engine::server {
namespace {

// A connected loopback pair: `client` and the `server` end accept() returned.
struct Connection {
  int client = -1, server = -1;
  Connection() {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ADD_FAILURE() << "cannot connect";
    }
    server = accept(listener, nullptr, nullptr);
    close(listener);
  }
  ~Connection() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
  void CloseClient() {
    close(client);
    client = -1;
  }
};

TEST(RequestWatchTest, SeesThePeerCloseButNotAPipelinedRequest) {
  Connection c;
  EXPECT_FALSE(PeerHasClosed(c.server));
  ASSERT_EQ(write(c.client, "GET", 3), 3);  // a pipelined request is not a hang-up
  EXPECT_FALSE(PeerHasClosed(c.server));
  char buf[3];
  EXPECT_EQ(read(c.server, buf, 3), 3);  // the peeked bytes are still there
  c.CloseClient();
  EXPECT_TRUE(PeerHasClosed(c.server));
}

TEST(RequestWatchTest, CancelsWhenTheClientHangsUp) {
  Connection c;
  std::promise<void> cancelled;
  RequestWatch watch([&] { cancelled.set_value(); });
  auto entry = watch.Watch(c.server, 0);
  EXPECT_FALSE(entry->cancel().IsCancelled());
  c.CloseClient();
  cancelled.get_future().wait();
  EXPECT_TRUE(entry->cancel().IsCancelled());
  EXPECT_EQ(entry->reason(), RequestWatch::Reason::kClientGone);
}

TEST(RequestWatchTest, CancelsAtTheDeadline) {
  std::promise<void> cancelled;
  RequestWatch watch([&] { cancelled.set_value(); });
  auto entry = watch.Watch(-1, 0.05);  // no connection: the deadline only
  cancelled.get_future().wait();
  EXPECT_EQ(entry->reason(), RequestWatch::Reason::kTimeout);
}

TEST(RequestWatchTest, CancelAllCancelsCurrentAndLaterRequests) {
  Connection c;
  RequestWatch watch({});
  auto before = watch.Watch(c.server, 0);
  watch.CancelAll();
  auto after = watch.Watch(c.server, 0);
  EXPECT_EQ(before->reason(), RequestWatch::Reason::kShutdown);
  EXPECT_EQ(after->reason(), RequestWatch::Reason::kShutdown);
  EXPECT_TRUE(after->cancel().IsCancelled());
}

}  // namespace
}  // namespace dsagent::engine::server
