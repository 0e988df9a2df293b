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

Expected<Ok, std::string> WriteFileAtomic(const fs::path& path, std::string_view data,
                                          fs::perms perms) {
  std::error_code ec;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  fs::create_directories(dir, ec);
  std::random_device rd;
  // Built with append rather than "." + string: GCC 12 at -O3 reports a false -Wrestrict there.
  std::string tmp_name = ".";
  tmp_name.append(path.filename().string()).append(".tmp").append(std::to_string(rd()));
  const fs::path tmp = dir / tmp_name;
  const auto fail = [&](const std::string& what) -> Expected<Ok, std::string> {
    std::string msg = path.string() + ": " + what + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return MakeUnexpected(msg);
  };
  mode_t mode = 0644;
  if (perms != fs::perms::none) {
    mode = static_cast<mode_t>(perms);
  } else if (auto st = fs::status(path, ec); !ec && fs::exists(st)) {
    mode = static_cast<mode_t>(st.permissions() & fs::perms::mask);  // keep e.g. the exec bit
  }
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail("cannot create temporary file");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return fail("write failed");
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    ::close(fd);
    return fail("fsync failed");
  }
  if (::close(fd) != 0) return fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename failed");
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok{};
}

}  // namespace dsagent
