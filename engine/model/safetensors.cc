#include "engine/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common/json.h"

namespace dsagent::engine {
namespace fs = std::filesystem;

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  if (fd_ >= 0) ::close(fd_);
}

namespace {

int64_t ModifiedNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Reads the file's bytes [begin, end) to the same offsets of `to`; "" or what failed.
std::string ReadRange(int fd, char* to, size_t begin, size_t end) {
  size_t done = begin;
  while (done < end) {
    const ssize_t n = ::pread(fd, to + done, end - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return "reading byte " + std::to_string(done) + " failed: " +
             (n == 0 ? std::string("the file ended early") : std::string(std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return "";
}

// The read goes in pieces of this many bytes (whole huge pages), several threads taking the next
// piece in turn: one thread both faults in (zeroes) the anonymous pages and copies the page
// cache's bytes, about 1.7 GB/s on the development VM, and a disk serves parallel reads faster.
constexpr size_t kLoadPieceBytes = size_t{64} << 20;
constexpr unsigned kMaxLoadThreads = 8;

// The whole file in private anonymous memory, in transparent huge pages where the kernel allows
// them (weight_residency.h), read-only once filled: the same bytes a mapping would show.
Expected<void*, std::string> LoadIntoMemory(int fd, size_t size, const std::string& where) {
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    return MakeUnexpected(where + ": cannot load " + std::to_string(size) + " bytes into memory: " +
                          std::strerror(errno) + " (map the file instead: --weights mmap)");
  }
  ::madvise(map, size, MADV_HUGEPAGE);  // a hint: without THP the copy is in 4 KiB pages
  const size_t pieces = (size + kLoadPieceBytes - 1) / kLoadPieceBytes;
  const unsigned threads = static_cast<unsigned>(std::min<size_t>(
      pieces, std::clamp(std::thread::hardware_concurrency(), 1u, kMaxLoadThreads)));
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::string failed;  // the first failure, under mu
  const auto work = [&] {
    for (size_t p; (p = next.fetch_add(1)) < pieces;) {
      const size_t begin = p * kLoadPieceBytes, end = std::min(size, begin + kLoadPieceBytes);
      std::string why = ReadRange(fd, static_cast<char*>(map), begin, end);
      if (why.empty()) continue;
      std::lock_guard<std::mutex> lock(mu);
      if (failed.empty()) failed = std::move(why);
      next.store(pieces);  // the others stop after their piece
      return;
    }
  };
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  if (!failed.empty()) {
    ::munmap(map, size);
    return MakeUnexpected(where + ": " + failed + " (" + std::to_string(size) + " bytes to read)");
  }
  ::mprotect(map, size, PROT_READ);
  return map;
}

}  // namespace

Expected<int64_t, std::string> SafetensorsFile::ReturnPagesToFile(
    const std::vector<AddressRange>& keep) {
  if (fd_ < 0) return int64_t{0};
  struct stat now {};
  if (::fstat(fd_, &now) != 0) return MakeUnexpected(path_.string() + ": " + std::strerror(errno));
  // Changed since it was read: the file no longer holds the bytes the copy does.
  if (static_cast<size_t>(now.st_size) != map_size_ || ModifiedNs(now) != loaded_mtime_ns_) {
    return int64_t{0};
  }
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<uintptr_t>(map_);
  auto done = MapRangesToFile(fd_, base, PagesOutside(base, map_size_, keep, page));
  if (!done) return MakeUnexpected(path_.string() + ": " + done.error());
  return *done;
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Expected<std::unique_ptr<SafetensorsFile>, std::string> SafetensorsFile::Open(
    const fs::path& path, WeightResidency residency) {
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeUnexpected(where + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return MakeUnexpected(where + ": " + std::strerror(errno));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return MakeUnexpected(where + ": file is " + std::to_string(size) +
                          " bytes, too short for a safetensors header (truncated?)");
  }
  void* map = nullptr;
  int kept_fd = -1;
  if (residency == WeightResidency::kLoaded) {
    auto loaded = LoadIntoMemory(fd, size, where);
    if (!loaded) {
      ::close(fd);
      return MakeUnexpected(loaded.error());
    }
    map = *loaded;
    kept_fd = fd;  // for ReturnPagesToFile
  } else {
    map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return MakeUnexpected(where + ": mmap failed: " + std::strerror(errno));
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = size;
  f->fd_ = kept_fd;
  f->loaded_mtime_ns_ = ModifiedNs(st);
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8) {
    return MakeUnexpected(where + ": header length " + std::to_string(header_len) +
                          " exceeds the file size " + std::to_string(size) + " (truncated?)");
  }
  const Json header = Json::parse(bytes + 8, bytes + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return MakeUnexpected(where + ": the header is not a JSON object (not a safetensors file?)");
  }
  const size_t data_start = 8 + header_len;
  const size_t data_size = size - data_start;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const auto& [name, t] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string what = where + ": tensor '" + name + "': ";
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") ||
        !t.contains("data_offsets")) {
      return MakeUnexpected(what + "needs dtype, shape and data_offsets");
    }
    const auto dtype =
        t["dtype"].is_string() ? ParseDType(t["dtype"].get<std::string>()) : std::nullopt;
    if (!dtype) return MakeUnexpected(what + "unsupported dtype " + t["dtype"].dump());
    TensorInfo info;
    info.name = name;
    info.dtype = *dtype;
    info.file = path;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return MakeUnexpected(what + "bad shape " + t["shape"].dump());
      }
      info.shape.push_back(d.get<int64_t>());
    }
    const Json& off = t["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned()) {
      return MakeUnexpected(what + "bad data_offsets " + off.dump());
    }
    const size_t begin = off[0].get<size_t>(), end = off[1].get<size_t>();
    if (begin > end || end > data_size) {
      return MakeUnexpected(what + "data range [" + std::to_string(begin) + ", " +
                            std::to_string(end) + ") exceeds the " + std::to_string(data_size) +
                            " data bytes in the file (truncated download?)");
    }
    info.size_bytes = end - begin;
    if (static_cast<size_t>(info.elements()) * DTypeBytes(info.dtype) != info.size_bytes) {
      return MakeUnexpected(what + "shape " + t["shape"].dump() + " of " + DTypeName(info.dtype) +
                            " needs " + std::to_string(info.elements() * DTypeBytes(info.dtype)) +
                            " bytes but the file gives it " + std::to_string(info.size_bytes));
    }
    info.data = bytes + data_start + begin;
    ranges.emplace_back(begin, end);
    f->tensors_.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      return MakeUnexpected(where + ": tensor data ranges overlap (corrupt header)");
    }
  }
  return f;
}

}  // namespace dsagent::engine
