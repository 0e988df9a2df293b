// DeadlineHttpServer: cpp-httplib's Server with whole-phase deadlines for reading a request.
// httplib 0.11's read timeout applies to each socket read, so a client that sends one byte just
// before each read would time out keeps its connection (and the worker thread serving it) forever:
// a handful of slow-drip clients can take every slot of `dsagent serve`. Here each connection is
// read through a stream that measures the time left against the current phase's deadline:
//   headers: from the first byte of a request to the end of its headers, `headers` in total;
//   body:    from the end of the headers (HeadersReceived, called by the pre-routing handler, which
//            httplib runs before it reads the body) to the end of the body, `body` in total.
// Between requests on a kept-alive connection the server waits up to `idle` for the next one.
// A connection whose phase runs out is closed without an answer (nothing reached a handler).
// The rest — parsing, routing, handlers, writing — is httplib's own (Server::process_request).
#pragma once

#include <httplib.h>

#include <chrono>

namespace dsagent::engine::server {

struct ReadDeadlines {
  std::chrono::milliseconds headers{15000};  // first byte to end of headers
  std::chrono::milliseconds body{60000};     // end of headers to end of body
  std::chrono::milliseconds idle{5000};      // waiting for a request on an open connection
  std::chrono::milliseconds write{5000};     // each write may wait this long for the socket
  int max_requests_per_connection = 5;       // then the connection is closed (keep-alive max)
};

class DeadlineHttpServer : public httplib::Server {
 public:
  explicit DeadlineHttpServer(ReadDeadlines deadlines) : deadlines_(deadlines) {}

  // Called on a worker thread while it serves a request whose headers are in (the pre-routing
  // handler): the body's deadline starts now. A no-op on any other thread.
  static void HeadersReceived();

  // The socket of the connection this worker thread is serving, or -1 on any other thread
  // (httplib 0.11 does not hand handlers their socket). It stays open until the request's
  // handler and its Response (a streaming content provider included) are gone.
  static socket_t CurrentSocket();

 private:
  bool process_and_close_socket(socket_t sock) override;

  ReadDeadlines deadlines_;
};

}  // namespace dsagent::engine::server
