// Scratch directories for tests: TempDir (RAII, removed on destruction) and TempDirTest (a fixture
// exposing dir_ and Write()).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dsagent {

class TempDir {
 public:
  // The path is canonical (symlinks such as a /tmp -> /private/tmp resolved), so it compares
  // equal to the paths that code under test canonicalizes.
  TempDir() {
    char tmpl[] = "/tmp/dsagent_test_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = std::filesystem::canonical(tmpl);
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

  // The bytes of path()/relative; empty when it cannot be read.
  std::string Read(const std::string& relative) const {
    std::ifstream in(path_ / relative, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  bool Exists(const std::string& relative) const {
    return std::filesystem::exists(path_ / relative);
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
