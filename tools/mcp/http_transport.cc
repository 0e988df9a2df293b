#include "tools/mcp/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include "tools/mcp/json_rpc.h"
#include "tools/mcp/sse_reader.h"

namespace dsagent {
namespace {

constexpr size_t kMaxErrorBody = 2000;  // of a non-2xx answer, kept for the message
constexpr long kCloseTimeoutMs = 2000;  // the DELETE at Close may not hold up the exit

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

// Everything one POST collects; the curl callbacks write into it.
struct Exchange {
  std::string content_type;
  std::string session_id;
  std::string body;  // a JSON answer, or the start of an error answer
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
  const std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 100 Continue, say)
    ex->content_type.clear();
    const size_t space = line.find(' ');
    if (space != std::string::npos) ex->status = std::atol(line.c_str() + space + 1);
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  const std::string name = Lower(line.substr(0, colon));
  const std::string value = Trim(line.substr(colon + 1));
  if (name == "content-type") ex->content_type = Lower(value);
  if (name == "mcp-session-id") ex->session_id = value;
  return size * n;
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

HttpTransport::HttpTransport(HttpServerOptions options) : options_(std::move(options)) {
  GlobalInitOnce();
}

HttpTransport::~HttpTransport() { Close(); }

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
  if (!session_id_.empty()) {
    headers = curl_slist_append(headers, ("Mcp-Session-Id: " + session_id_).c_str());
  }
  if (!protocol_version_.empty()) {
    headers = curl_slist_append(headers, ("MCP-Protocol-Version: " + protocol_version_).c_str());
  }
  for (const std::string& h : options_.headers) headers = curl_slist_append(headers, h.c_str());
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
  if (session_id_.empty()) return;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return;
  curl_slist* headers = curl_slist_append(nullptr, ("Mcp-Session-Id: " + session_id_).c_str());
  if (!protocol_version_.empty()) {
    headers = curl_slist_append(headers, ("MCP-Protocol-Version: " + protocol_version_).c_str());
  }
  for (const std::string& h : options_.headers) headers = curl_slist_append(headers, h.c_str());
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
