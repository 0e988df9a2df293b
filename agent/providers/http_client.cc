#include "agent/providers/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace dsagent {
namespace {

constexpr size_t kMaxErrorBodyBytes = 64 * 1024;
// How often the transfer loop wakes up to look at the CancelToken while the socket is quiet.
constexpr int kCancelPollMs = 50;
constexpr size_t kDefaultUploadBufferBytes = 64 * 1024;
// libcurl's largest (UPLOADBUFFER_MAX): it sends at most one buffer per turn of the transfer loop,
// and each turn costs a poll and a send call; a 1M-token body (4.4-5 MB) takes 3 turns, not 5.
constexpr size_t kLargeUploadBufferBytes = 2 * 1024 * 1024;

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Where the upload is within the body's pieces.
struct UploadCursor {
  std::span<const std::string_view> pieces;
  size_t piece = 0;
  size_t offset = 0;  // within pieces[piece]
};

struct Transfer {
  UploadCursor upload;
  const BodyCallback* on_body = nullptr;
  // The last time any response byte (header or body) arrived; the idle limit is measured from it.
  std::chrono::steady_clock::time_point last_byte_at;
  const CancelToken* cancel = nullptr;
  HttpResult result;
  bool aborted_by_body = false;
  bool cancelled = false;
};

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// CURLOPT_READFUNCTION: copies the next bytes of the body into curl's upload buffer.
size_t OnUpload(char* out, size_t size, size_t count, void* user) {
  UploadCursor& u = static_cast<Transfer*>(user)->upload;
  const size_t room = size * count;
  size_t written = 0;
  while (written < room && u.piece < u.pieces.size()) {
    const std::string_view piece = u.pieces[u.piece];
    const size_t n = std::min(room - written, piece.size() - u.offset);
    std::memcpy(out + written, piece.data() + u.offset, n);
    written += n;
    u.offset += n;
    if (u.offset == piece.size()) {
      ++u.piece;
      u.offset = 0;
    }
  }
  return written;
}

// CURLOPT_SEEKFUNCTION: curl rewinds the body when it must send it again (a redirect, an
// authentication round); only whole rewinds to a position happen, so walk from the start.
int OnUploadSeek(void* user, curl_off_t position, int origin) {
  UploadCursor& u = static_cast<Transfer*>(user)->upload;
  if (origin != SEEK_SET || position < 0) return CURL_SEEKFUNC_CANTSEEK;
  auto left = static_cast<size_t>(position);
  u.piece = 0;
  u.offset = 0;
  while (u.piece < u.pieces.size() && left >= u.pieces[u.piece].size()) {
    left -= u.pieces[u.piece].size();
    ++u.piece;
  }
  if (u.piece == u.pieces.size() && left > 0) return CURL_SEEKFUNC_FAIL;
  u.offset = left;
  return CURL_SEEKFUNC_OK;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  t->last_byte_at = std::chrono::steady_clock::now();
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after 100-continue or a proxy hop): forget the previous response.
    const size_t sp = line.find(' ');
    t->result.status =
        sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    t->result.retry_after_s.reset();
    t->result.request_id.clear();
    t->result.server_says_no_retry = false;
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  const std::string name = Lower(Trim(line.substr(0, colon)));
  const std::string value = Trim(line.substr(colon + 1));
  if (name == "retry-after") {
    if (!value.empty() &&
        std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
      t->result.retry_after_s = std::atoi(value.c_str());
    }
  } else if (name == "x-should-retry") {
    t->result.server_says_no_retry = Lower(value) == "false";
  } else if (name == "x-request-id" || (name == "request-id" && t->result.request_id.empty())) {
    t->result.request_id = value;
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  t->last_byte_at = std::chrono::steady_clock::now();
  if (t->result.status >= 200 && t->result.status < 300) {
    if (!(*t->on_body)(std::string_view(data, n))) {
      t->aborted_by_body = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
  } else if (t->result.error_body.size() < kMaxErrorBodyBytes) {
    t->result.error_body.append(data,
                                std::min(n, kMaxErrorBodyBytes - t->result.error_body.size()));
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel->IsCancelled()) {
    t->cancelled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

}  // namespace

// One lock per kind of shared data, as curl's share interface asks for. Also the handles of
// finished calls, for the next call to reuse.
struct HttpConnectionPool::Impl {
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];
  // An easy handle and the multi handle that drives it.
  struct CurlPair {
    CURL* easy = nullptr;
    CURLM* multi = nullptr;
    void Cleanup() const {
      if (easy) curl_easy_cleanup(easy);
      if (multi) curl_multi_cleanup(multi);
    }
  };
  std::mutex idle_mu;
  std::vector<CurlPair> idle;  // at most kMaxIdle; each easy handle is attached to `share`
  static constexpr size_t kMaxIdle = 4;

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Impl*>(user)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Impl*>(user)->locks[data].unlock();
  }
};

namespace {

// The handles of one call: a pool's idle pair when it has one (a call of the session before
// this one left it: its buffers, among them the 2 MiB upload buffer, stay allocated, and the
// multi handle's wake-up socket pair stays open), else new ones. Back to the pool afterwards.
struct CurlHandles {
  HttpConnectionPool::Impl* pool = nullptr;  // null: cleaned up after the call
  HttpConnectionPool::Impl::CurlPair pair;
  curl_slist* headers = nullptr;

  explicit CurlHandles(HttpConnectionPool::Impl* from) : pool(from) {
    if (pool != nullptr) {
      std::lock_guard lock(pool->idle_mu);
      if (!pool->idle.empty()) {
        pair = pool->idle.back();
        pool->idle.pop_back();
        return;
      }
    }
    pair.easy = curl_easy_init();
    pair.multi = curl_multi_init();
  }
  ~CurlHandles() {
    // The call's error buffer is gone by now (it was declared after these handles), and removing
    // an unfinished transfer may report an error: no buffer from here on.
    if (pair.easy) curl_easy_setopt(pair.easy, CURLOPT_ERRORBUFFER, nullptr);
    if (pair.multi && pair.easy) curl_multi_remove_handle(pair.multi, pair.easy);
    // Nor may an idle handle point at the call's header list (its callback data is replaced by
    // the next call's before any transfer).
    if (pair.easy) curl_easy_setopt(pair.easy, CURLOPT_HTTPHEADER, nullptr);
    if (headers) curl_slist_free_all(headers);
    if (pool != nullptr && pair.easy && pair.multi) {
      std::lock_guard lock(pool->idle_mu);
      if (pool->idle.size() < HttpConnectionPool::Impl::kMaxIdle) {
        pool->idle.push_back(pair);
        return;
      }
    }
    pair.Cleanup();
  }
};

}  // namespace

HttpConnectionPool::HttpConnectionPool() : impl_(std::make_unique<Impl>()) {
  EnsureCurlGlobalInit();
  impl_->share = curl_share_init();
  if (impl_->share == nullptr) return;  // then every call connects anew
  curl_share_setopt(impl_->share, CURLSHOPT_LOCKFUNC, &Impl::Lock);
  curl_share_setopt(impl_->share, CURLSHOPT_UNLOCKFUNC, &Impl::Unlock);
  curl_share_setopt(impl_->share, CURLSHOPT_USERDATA, impl_.get());
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
}

HttpConnectionPool::~HttpConnectionPool() {
  // The easy handles first: a share still in use by one cannot be cleaned up.
  for (const Impl::CurlPair& pair : impl_->idle) pair.Cleanup();
  if (impl_->share != nullptr) curl_share_cleanup(impl_->share);
}

HttpResult HttpPost(const HttpRequest& request, const BodyCallback& on_body,
                    const CancelToken& cancel) {
  EnsureCurlGlobalInit();
  Transfer t;
  t.upload.pieces = request.body;
  t.on_body = &on_body;
  t.cancel = &cancel;
  if (cancel.IsCancelled()) {
    t.result.outcome = HttpResult::Outcome::kCancelled;
    return t.result;
  }

  // Handles are pooled only with the share: a reused easy handle keeps the options of its last
  // call, and every call sets the same ones (below), so nothing of that call carries over.
  const bool pooled =
      request.connections != nullptr && request.connections->impl().share != nullptr;
  CurlHandles handles(pooled ? &request.connections->impl() : nullptr);
  CurlHandles& h = handles;
  if (!h.pair.easy || !h.pair.multi) {
    t.result.transport_error = "could not initialise libcurl";
    return t.result;
  }
  for (const auto& line : request.headers) h.headers = curl_slist_append(h.headers, line.c_str());
  // curl adds "Expect: 100-continue" to large POSTs; it only costs a round trip here.
  h.headers = curl_slist_append(h.headers, "Expect:");

  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h.pair.easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h.pair.easy, CURLOPT_POST, 1L);
  size_t body_bytes = 0;
  for (std::string_view piece : request.body) body_bytes += piece.size();
  curl_easy_setopt(h.pair.easy, CURLOPT_READFUNCTION, OnUpload);
  curl_easy_setopt(h.pair.easy, CURLOPT_READDATA, &t);
  curl_easy_setopt(h.pair.easy, CURLOPT_SEEKFUNCTION, OnUploadSeek);
  curl_easy_setopt(h.pair.easy, CURLOPT_SEEKDATA, &t);
  curl_easy_setopt(h.pair.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_bytes));
  // A session's body is megabytes: larger upload chunks (curl's default is 64 KiB) mean fewer
  // read callbacks, send calls and turns of the transfer loop per request. Set on every call (a
  // reused handle keeps the last call's size; curl reallocates the buffer only when it changes,
  // so a session of large bodies keeps one).
  curl_easy_setopt(
      h.pair.easy, CURLOPT_UPLOAD_BUFFERSIZE,
      static_cast<long>(body_bytes > kDefaultUploadBufferBytes ? kLargeUploadBufferBytes
                                                               : kDefaultUploadBufferBytes));
  curl_easy_setopt(h.pair.easy, CURLOPT_HTTPHEADER, h.headers);
  curl_easy_setopt(h.pair.easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h.pair.easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h.pair.easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h.pair.easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h.pair.easy, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(h.pair.easy, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(h.pair.easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h.pair.easy, CURLOPT_NOSIGNAL, 1L);  // required when several threads use curl
  curl_easy_setopt(h.pair.easy, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(request.connect_timeout_s));
  curl_easy_setopt(h.pair.easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h.pair.easy, CURLOPT_TCP_KEEPALIVE, 1L);
  if (pooled) curl_easy_setopt(h.pair.easy, CURLOPT_SHARE, request.connections->impl().share);
  curl_multi_add_handle(h.pair.multi, h.pair.easy);

  // The multi interface instead of curl_easy_perform: easy_perform sleeps up to a second between
  // progress callbacks when the socket is quiet, which would make Ctrl-C feel sluggish.
  // The idle limit is enforced here rather than with CURLOPT_LOW_SPEED_*: curl averages speed
  // over several seconds (the upload counts too), which would stretch a 1 s limit to ~6 s.
  const auto idle_limit = std::chrono::seconds(std::max(1, request.idle_timeout_s));
  t.last_byte_at = std::chrono::steady_clock::now();
  int running = 1;
  while (true) {
    CURLMcode mc = curl_multi_perform(h.pair.multi, &running);
    if (mc != CURLM_OK) {
      t.result.transport_error = curl_multi_strerror(mc);
      return t.result;
    }
    if (running == 0) break;
    if (cancel.IsCancelled()) {
      t.result.outcome = HttpResult::Outcome::kCancelled;
      return t.result;
    }
    if (std::chrono::steady_clock::now() - t.last_byte_at > idle_limit) {
      // A stalled stream: reported as a transport failure, which the caller retries as cut.
      t.result.outcome = HttpResult::Outcome::kTransport;
      t.result.transport_error =
          "no data received for " + std::to_string(idle_limit.count()) + " s (idle timeout)";
      return t.result;
    }
    mc = curl_multi_poll(h.pair.multi, nullptr, 0, kCancelPollMs, nullptr);
    if (mc != CURLM_OK) {
      t.result.transport_error = curl_multi_strerror(mc);
      return t.result;
    }
  }

  CURLcode code = CURLE_OK;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(h.pair.multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) code = msg->data.result;
  }
  if (t.cancelled || cancel.IsCancelled()) {
    t.result.outcome = HttpResult::Outcome::kCancelled;
  } else if (t.aborted_by_body) {
    t.result.outcome = HttpResult::Outcome::kAborted;
  } else if (code != CURLE_OK) {
    t.result.outcome = HttpResult::Outcome::kTransport;
    t.result.transport_error = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
  } else {
    t.result.outcome = HttpResult::Outcome::kCompleted;
  }
  return t.result;
}

}  // namespace dsagent
