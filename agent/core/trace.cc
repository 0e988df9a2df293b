#include "agent/core/trace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>

namespace dsagent {
namespace fs = std::filesystem;

std::string UtcTimestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {
std::string OsError(const fs::path& path, const char* what) {
  return path.string() + ": " + what + ": " + std::strerror(errno);
}

// Cuts the file back to just after its last '\n' (drops a torn final line).
bool TruncateTornTail(int fd) {
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) return true;
  off_t pos = size;
  char buf[4096];
  while (pos > 0) {
    const off_t chunk = std::min<off_t>(pos, sizeof buf);
    if (::pread(fd, buf, static_cast<size_t>(chunk), pos - chunk) != chunk) return false;
    for (off_t i = chunk - 1; i >= 0; --i) {
      if (buf[i] == '\n') {
        const off_t keep = pos - chunk + i + 1;
        return keep == size || ::ftruncate(fd, keep) == 0;
      }
    }
    pos -= chunk;
  }
  return ::ftruncate(fd, 0) == 0;
}
}  // namespace

Expected<TraceWriter, std::string> TraceWriter::Open(const fs::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) return MakeUnexpected(path.parent_path().string() + ": " + ec.message());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return MakeUnexpected(OsError(path, "cannot open trace"));
  if (!TruncateTornTail(fd)) {
    std::string err = OsError(path, "cannot repair torn trace tail");
    ::close(fd);
    return MakeUnexpected(err);
  }
  const off_t size = ::lseek(fd, 0, SEEK_END);
  return TraceWriter(path, fd, size > 0 ? static_cast<uint64_t>(size) : 0);
}

TraceWriter::TraceWriter(TraceWriter&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(other.fd_),
      unsynced_(other.unsynced_),
      written_bytes_(other.written_bytes_),
      synced_bytes_(other.synced_bytes_) {
  other.fd_ = -1;
  other.unsynced_ = false;
}

TraceWriter& TraceWriter::operator=(TraceWriter&& other) noexcept {
  if (this != &other) {
    CloseSynced();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    unsynced_ = other.unsynced_;
    written_bytes_ = other.written_bytes_;
    synced_bytes_ = other.synced_bytes_;
    other.fd_ = -1;
    other.unsynced_ = false;
  }
  return *this;
}

TraceWriter::~TraceWriter() { CloseSynced(); }

void TraceWriter::CloseSynced() {
  if (fd_ < 0) return;
  if (unsynced_) ::fdatasync(fd_);  // best effort: nothing can be reported from here
  ::close(fd_);
  fd_ = -1;
  unsynced_ = false;
}

Expected<Ok, std::string> TraceWriter::Append(Json event, TraceSync sync) {
  event["ts"] = UtcTimestamp();
  std::string line = CanonicalJson(event);
  line.push_back('\n');
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return MakeUnexpected(OsError(path_, "cannot append to trace"));
    }
    off += static_cast<size_t>(n);
    written_bytes_ += static_cast<uint64_t>(n);
  }
  if (sync == TraceSync::kWithNextEvent) {
    unsynced_ = true;
    return Ok{};
  }
  if (::fdatasync(fd_) != 0) return MakeUnexpected(OsError(path_, "cannot sync trace"));
  unsynced_ = false;
  synced_bytes_ = written_bytes_;
  return Ok{};
}

Expected<bool, std::string> ForEachTraceEvent(const fs::path& path,
                                              const std::function<void(Json&&)>& on_event) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeUnexpected(OsError(path, "cannot open"));
  std::string pending;  // the bytes of the line being read
  std::vector<char> buf(1 << 20);
  size_t line_no = 0;
  // A line that did not parse: tolerated only as the very last thing in the file.
  std::optional<size_t> bad_line;
  bool bad_line_complete = false;
  bool torn = false;
  std::optional<std::string> error;
  const auto take_line = [&](std::string_view line, bool complete) {
    ++line_no;
    if (bad_line) {
      error = path.string() + ": line " + std::to_string(*bad_line) +
              " is not valid JSON (the trace is damaged)";
      return;
    }
    if (line.empty()) return;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !complete) {
      bad_line = line_no;
      bad_line_complete = complete;
      return;
    }
    on_event(std::move(j));
  };
  while (!error) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      error = OsError(path, "cannot read");
      break;
    }
    if (n == 0) break;
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    while (!error && !chunk.empty()) {
      const size_t nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        pending.append(chunk);
        break;
      }
      if (pending.empty()) {
        take_line(chunk.substr(0, nl), true);
      } else {
        pending.append(chunk.substr(0, nl));
        take_line(pending, true);
        pending.clear();
      }
      chunk.remove_prefix(nl + 1);
      // Bytes after a bad line's newline: it was not the last line.
      if (bad_line && bad_line_complete && !chunk.empty()) take_line({}, true);
    }
  }
  ::close(fd);
  if (!error && !pending.empty()) take_line(pending, false);
  if (error) return MakeUnexpected(*error);
  torn = bad_line.has_value();
  return torn;
}

Expected<TraceContents, std::string> ReadTrace(const fs::path& path) {
  TraceContents out;
  auto torn = ForEachTraceEvent(path, [&](Json&& e) { out.events.push_back(std::move(e)); });
  if (!torn) return MakeUnexpected(torn.error());
  out.torn_tail = *torn;
  return out;
}

}  // namespace dsagent
