#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace dsagent {
namespace fs = std::filesystem;

Expected<std::string, std::string> ReadFileToString(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeUnexpected(path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return MakeUnexpected(path.string() + ": read error");
  return ss.str();
}

Expected<std::unique_ptr<AtomicFileWriter>, std::string> AtomicFileWriter::Create(
    const fs::path& path, fs::perms perms) {
  std::unique_ptr<AtomicFileWriter> w(new AtomicFileWriter());
  w->path_ = path;
  std::error_code ec;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  fs::create_directories(dir, ec);
  std::random_device rd;
  // Built with append rather than "." + string: GCC 12 at -O3 reports a false -Wrestrict there.
  std::string tmp_name = ".";
  tmp_name.append(path.filename().string()).append(".tmp").append(std::to_string(rd()));
  w->tmp_ = dir / tmp_name;
  if (perms != fs::perms::none) {
    w->mode_ = static_cast<mode_t>(perms);
  } else if (auto st = fs::status(path, ec); !ec && fs::exists(st)) {
    w->mode_ = static_cast<mode_t>(st.permissions() & fs::perms::mask);  // keep e.g. the exec bit
  }
  w->fd_ = ::open(w->tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, w->mode_);
  if (w->fd_ < 0) {
    w->tmp_.clear();  // nothing was created
    return MakeUnexpected(path.string() +
                          ": cannot create temporary file: " + std::strerror(errno));
  }
  return w;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

Expected<Ok, std::string> AtomicFileWriter::Fail(const std::string& what) {
  std::string msg = path_.string() + ": " + what + ": " + std::strerror(errno);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
  return MakeUnexpected(msg);
}

Expected<Ok, std::string> AtomicFileWriter::Append(std::string_view data) {
  if (fd_ < 0) return MakeUnexpected(path_.string() + ": write after an error or commit");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("write failed");
    }
    off += static_cast<size_t>(n);
  }
  return Ok{};
}

Expected<Ok, std::string> AtomicFileWriter::Commit() {
  if (fd_ < 0) return MakeUnexpected(path_.string() + ": commit after an error or commit");
  if (::fchmod(fd_, mode_) != 0 || ::fsync(fd_) != 0) return Fail("fsync failed");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Fail("close failed");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Fail("rename failed");
  tmp_.clear();
  const fs::path dir = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok{};
}

Expected<Ok, std::string> WriteFileAtomic(const fs::path& path, std::string_view data,
                                          fs::perms perms) {
  auto writer = AtomicFileWriter::Create(path, perms);
  if (!writer) return MakeUnexpected(writer.error());
  if (auto w = (*writer)->Append(data); !w) return w;
  return (*writer)->Commit();
}

}  // namespace dsagent
