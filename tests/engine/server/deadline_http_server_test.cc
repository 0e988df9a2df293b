// DeadlineHttpServer::CurrentSocket over real loopback connections: a handler gets the socket of
// the connection it serves (what RequestWatch polls to see its client leave), never another's.
#include "engine/server/deadline_http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <thread>
#include <vector>

namespace dsagent::engine::server {
namespace {

// The peer port of connected socket `sock`, or -1.
int PeerPort(socket_t sock) {
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  if (sock < 0 || getpeername(sock, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return -1;
  return ntohs(peer.sin_port);
}

TEST(DeadlineHttpServerTest, EachHandlerSeesTheSocketOfItsOwnConnection) {
  DeadlineHttpServer server(ReadDeadlines{});
  // Answers "<peer port of CurrentSocket()> <the request's remote port>".
  server.Get("/who", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::to_string(PeerPort(DeadlineHttpServer::CurrentSocket())) + " " +
                        std::to_string(req.remote_port),
                    "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread listener([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();  // stop() is a no-op until then

  // Clients on their own connections at once, two requests each (the second on the kept-alive
  // connection).
  constexpr int kClients = 4;
  std::vector<std::string> answers(2 * kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      for (int k = 0; k < 2; ++k) {
        auto r = c.Get("/who");
        answers[static_cast<size_t>(2 * i + k)] = r ? r->body : "no answer";
      }
    });
  }
  for (auto& t : clients) t.join();
  for (const std::string& a : answers) {
    const size_t space = a.find(' ');
    ASSERT_NE(space, std::string::npos) << a;
    EXPECT_EQ(a.substr(0, space), a.substr(space + 1)) << "the handler's socket is another's";
    EXPECT_NE(a.substr(0, space), "-1");
  }
  EXPECT_EQ(DeadlineHttpServer::CurrentSocket(), INVALID_SOCKET);  // not a worker thread
  server.stop();
  listener.join();
}

}  // namespace
}  // namespace dsagent::engine::server
