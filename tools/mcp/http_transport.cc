#include "tools/mcp/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "tools/mcp/json_rpc.h"
#include "tools/mcp/sse_reader.h"

namespace dsagent {
namespace {

constexpr size_t kMaxErrorBody = 2000;     // of a non-2xx answer, kept for the message
constexpr long kCloseTimeoutMs = 2000;     // the DELETE at Close may not hold up the exit
constexpr size_t kMaxAuthChallenge = 300;  // of a WWW-Authenticate header, quoted in the error
constexpr size_t kMaxUnsolicited = 1000;   // messages the GET stream may queue before drops

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// One header line of an answer: the status line sets `status`; other lines give a lower-case
// name and a trimmed value. False for lines that are neither.
bool ReadHeaderLine(const std::string& line, long* status, std::string* name, std::string* value) {
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 100 Continue, say)
    const size_t space = line.find(' ');
    if (space != std::string::npos) *status = std::atol(line.c_str() + space + 1);
    name->clear();
    return true;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return false;
  *name = Lower(line.substr(0, colon));
  *value = Trim(line.substr(colon + 1));
  return true;
}

// Everything one POST collects; the curl callbacks write into it.
struct Exchange {
  std::string content_type;
  std::string session_id;
  std::string www_authenticate;  // a 401's challenge
  std::string body;              // a JSON answer, or the start of an error answer
  bool is_sse = false;
  bool headers_done = false;
  long status = 0;
  SseReader sse;
  std::deque<Json>* inbox = nullptr;
  Json awaited_id;         // the id of the request sent; null for a notification
  bool got_reply = false;  // the SSE stream carried the awaited reply: stop reading
  std::string bad_event;   // an SSE event whose data is not JSON
  McpClock::time_point deadline;
  const CancelToken* cancel = nullptr;
  bool stopped_by_deadline = false;
  bool stopped_by_cancel = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string name, value;
  if (!ReadHeaderLine(std::string(data, size * n), &ex->status, &name, &value)) return size * n;
  if (name.empty()) ex->content_type.clear();
  if (name == "content-type") ex->content_type = Lower(value);
  if (name == "mcp-session-id") ex->session_id = value;
  if (name == "www-authenticate") ex->www_authenticate = value.substr(0, kMaxAuthChallenge);
  return size * n;
}

// What a 401 means for the user: the server wants credentials dsagent was not given (or refused
// the ones it was), and where they go. dsagent runs no OAuth flow of its own.
std::string Unauthorized(const std::string& url, const std::vector<std::string>& headers,
                         const std::string& challenge) {
  const bool sent = std::any_of(headers.begin(), headers.end(), [](const std::string& h) {
    return Lower(h).rfind("authorization:", 0) == 0;
  });
  std::string out = url + ": HTTP 401: ";
  out += sent ? "the server refused the configured Authorization header"
              : "the server wants credentials";
  if (!challenge.empty()) out += " (WWW-Authenticate: " + challenge + ")";
  out += sent ? "; check the token it expands to"
              : ". dsagent does not run the OAuth flow: get a token for this server and give it "
                "in the server's config as headers: {Authorization: \"Bearer ${TOKEN}\"}, "
                "with TOKEN set in the environment";
  return out;
}

void Enqueue(Exchange& ex, const Json& message) {
  if (message.is_array()) {  // a JSON-RPC batch
    for (const Json& m : message) Enqueue(ex, m);
    return;
  }
  if (!ex.awaited_id.is_null() && ClassifyJsonRpc(message) == JsonRpcKind::kResponse &&
      message["id"] == ex.awaited_id) {
    ex.got_reply = true;
  }
  ex.inbox->push_back(message);
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const std::string_view bytes(data, size * n);
  if (!ex->headers_done) {
    ex->headers_done = true;
    ex->is_sse = ex->content_type.rfind("text/event-stream", 0) == 0;
  }
  if (!ex->is_sse || ex->status < 200 || ex->status >= 300) {
    if (ex->body.size() < 64 * 1024 * 1024) ex->body.append(bytes);
    return size * n;
  }
  for (std::string& event : ex->sse.Feed(bytes)) {
    Json message = Json::parse(event, nullptr, false);
    if (message.is_discarded()) {
      ex->bad_event = event.substr(0, 200);
      continue;
    }
    Enqueue(*ex, message);
  }
  // A server should close the stream after the reply; one that keeps it open must not hang us.
  return ex->got_reply ? 0 : size * n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ex = static_cast<Exchange*>(user);
  if (ex->cancel->IsCancelled()) {
    ex->stopped_by_cancel = true;
    return 1;
  }
  if (McpClock::now() >= ex->deadline) {
    ex->stopped_by_deadline = true;
    return 1;
  }
  return 0;
}

}  // namespace

// The GET stream: one thread, one request, read until the server ends it or Close stops it (a
// multi handle lets Close wake the thread at once instead of waiting for the next byte).
struct HttpTransport::Listener {
  std::thread thread;
  CURLM* multi = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<bool> open{false};  // answered 200 with an event stream, not ended yet
  std::mutex mu;
  std::vector<Json> messages;  // guarded by mu
  // Touched by the thread only.
  long status = 0;
  std::string content_type;
  SseReader sse;

  void Queue(const Json& message) {
    if (message.is_array()) {
      for (const Json& m : message) Queue(m);
      return;
    }
    std::lock_guard lock(mu);
    if (messages.size() < kMaxUnsolicited) messages.push_back(message);
  }
  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* l = static_cast<Listener*>(user);
    const std::string line(data, size * n);
    std::string name, value;
    if (ReadHeaderLine(line, &l->status, &name, &value) && name == "content-type") {
      l->content_type = Lower(value);
    }
    if (Trim(line).empty()) {  // the end of the headers: the stream is open if it is one
      l->open = l->status == 200 && l->content_type.rfind("text/event-stream", 0) == 0;
    }
    return size * n;
  }
  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    auto* l = static_cast<Listener*>(user);
    // Anything but an event stream (405: not offered) ends it quietly.
    if (!l->open) return 0;
    for (const std::string& event : l->sse.Feed(std::string_view(data, size * n))) {
      Json message = Json::parse(event, nullptr, false);
      if (!message.is_discarded()) l->Queue(message);
    }
    return size * n;
  }
  void Run(CURL* curl, curl_slist* headers) {
    curl_multi_add_handle(multi, curl);
    int running = 1;
    while (!stop && running > 0) {
      if (curl_multi_perform(multi, &running) != CURLM_OK) break;
      if (running > 0) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    open = false;
    curl_multi_remove_handle(multi, curl);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
  }
  ~Listener() {
    stop = true;
    if (multi != nullptr) curl_multi_wakeup(multi);
    if (thread.joinable()) thread.join();
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
};

HttpTransport::HttpTransport(HttpServerOptions options) : options_(std::move(options)) {
  GlobalInitOnce();
}

HttpTransport::~HttpTransport() { Close(); }

curl_slist* HttpTransport::CommonHeaders(curl_slist* headers) const {
  if (!session_id_.empty()) {
    headers = curl_slist_append(headers, ("Mcp-Session-Id: " + session_id_).c_str());
  }
  if (!protocol_version_.empty()) {
    headers = curl_slist_append(headers, ("MCP-Protocol-Version: " + protocol_version_).c_str());
  }
  for (const std::string& h : options_.headers) headers = curl_slist_append(headers, h.c_str());
  return headers;
}

void HttpTransport::StartListener() {
  if (listener_ || closed_) return;
  auto l = std::make_unique<Listener>();
  l->multi = curl_multi_init();
  CURL* curl = curl_easy_init();
  if (l->multi == nullptr || curl == nullptr) {
    if (curl != nullptr) curl_easy_cleanup(curl);
    return;  // l's destructor frees the multi handle
  }
  curl_slist* headers = CommonHeaders(curl_slist_append(nullptr, "Accept: text/event-stream"));
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Listener::OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, l.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Listener::OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, l.get());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout_s));
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  Listener* raw = l.get();
  l->thread = std::thread([raw, curl, headers] { raw->Run(curl, headers); });
  listener_ = std::move(l);
}

std::vector<Json> HttpTransport::TakeUnsolicited() {
  std::vector<Json> out;
  if (!listener_) return out;
  std::lock_guard lock(listener_->mu);
  out.swap(listener_->messages);
  return out;
}

bool HttpTransport::ListeningForServerMessages() const { return listener_ && listener_->open; }

Expected<Ok, std::string> HttpTransport::Send(const Json& message, McpClock::time_point deadline,
                                              const CancelToken& cancel) {
  if (closed_) return MakeUnexpected("the connection to " + options_.url + " is closed");
  Exchange ex;
  ex.inbox = &inbox_;
  ex.deadline = deadline;
  ex.cancel = &cancel;
  if (ClassifyJsonRpc(message) == JsonRpcKind::kRequest) ex.awaited_id = message["id"];
  const std::string body = CanonicalJson(message);

  CURL* curl = curl_easy_init();
  if (curl == nullptr) return MakeUnexpected("cannot initialise libcurl");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json, text/event-stream");
  headers = CommonHeaders(headers);
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &ex);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout_s));
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);

  if (!ex.session_id.empty()) session_id_ = ex.session_id;
  if (ex.stopped_by_cancel) return MakeUnexpected("interrupted");
  if (ex.stopped_by_deadline) return MakeUnexpected("timed out");
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && ex.got_reply)) {
    return MakeUnexpected(options_.url + ": " + curl_easy_strerror(rc));
  }
  if (ex.status == 404 && !session_id_.empty()) {
    return MakeUnexpected(options_.url + ": the server ended the MCP session (HTTP 404)");
  }
  if (ex.status == 401) {
    return MakeUnexpected(Unauthorized(options_.url, options_.headers, ex.www_authenticate));
  }
  if (ex.status < 200 || ex.status >= 300) {
    std::string detail = Trim(ex.body.substr(0, kMaxErrorBody));
    return MakeUnexpected(options_.url + ": HTTP " + std::to_string(ex.status) +
                          (detail.empty() ? "" : ": " + detail));
  }
  if (!ex.is_sse && !ex.body.empty()) {
    Json answer = Json::parse(ex.body, nullptr, false);
    if (answer.is_discarded()) {
      return MakeUnexpected(options_.url + ": the answer is neither JSON nor an event stream (" +
                            ex.content_type + ")");
    }
    Enqueue(ex, answer);
  }
  if (!ex.bad_event.empty() && !ex.got_reply) {
    return MakeUnexpected(options_.url + ": an event's data is not JSON: " + ex.bad_event);
  }
  if (!ex.awaited_id.is_null() && !ex.got_reply) {
    return MakeUnexpected(options_.url + ": the answer (HTTP " + std::to_string(ex.status) +
                          ") ended without a reply to the request");
  }
  // Initialized: the server may now send messages of its own.
  if (message.is_object() && message.value("method", "") == "notifications/initialized") {
    StartListener();
  }
  return Ok{};
}

Expected<std::optional<Json>, std::string> HttpTransport::Receive(McpClock::time_point deadline,
                                                                  const CancelToken& cancel) {
  (void)deadline;
  (void)cancel;
  // Send of a request returns only once its reply is queued, so an empty inbox means the server
  // broke the exchange; waiting would not change that.
  if (inbox_.empty()) return MakeUnexpected(options_.url + ": no reply from the server");
  Json next = std::move(inbox_.front());
  inbox_.pop_front();
  return std::optional<Json>(std::move(next));
}

void HttpTransport::Close() {
  if (closed_) return;
  closed_ = true;
  listener_.reset();
  if (session_id_.empty()) return;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return;
  curl_slist* headers = CommonHeaders(nullptr);
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kCloseTimeoutMs);
  curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}

}  // namespace dsagent
