// Scratch directories for tests: TempDir (RAII, removed on destruction) and TempDirTest (a fixture
// exposing dir_ and Write()).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace dsagent {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsagent_test_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `text` to path()/relative (creating parents) and returns the full path.
  std::filesystem::path Write(const std::string& relative, const std::string& text) const {
    const std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

class TempDirTest : public ::testing::Test {
 protected:
  std::filesystem::path Write(const std::string& relative, const std::string& text) {
    return tmp_.Write(relative, text);
  }

  TempDir tmp_;
  const std::filesystem::path dir_ = tmp_.path();
};

}  // namespace dsagent
