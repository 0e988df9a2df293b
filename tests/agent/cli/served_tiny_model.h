// `dsagent serve` on the tiny checkpoint (tests/data/v4-tiny, random weights) with its tokenizer,
// started on a free loopback port for end-to-end tests of the clients that talk to it.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/agent/cli/dsagent_process.h"

namespace dsagent::testing {

class ServedTinyModel {
 public:
  // Starts the server in `box` (its logs under box.root()/serve) with `extra_args` after the
  // model, tokenizer, port and context options; Port() is 0 when it did not come up.
  ServedTinyModel(const Sandbox& box, const std::vector<std::string>& extra_args) {
    namespace fs = std::filesystem;
    const fs::path source = DSAGENT_SOURCE_DIR;
    const fs::path logs = box.root() / "serve";
    fs::create_directories(logs);
    std::vector<std::string> args = {
        "serve",
        "--model",
        (source / "tests/data/v4-tiny").string(),
        "--tokenizer",
        (source / "tests/data/v4-tiny-tokenizer/tokenizer.json").string(),
        "--port",
        "0",
        "--ctx-size",
        "32768",
        "--model-id",
        "tiny",
        "--threads",
        "2"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    server_ = std::make_unique<RunningDsagent>(args, box.Env({}), box.root(), "", logs);
    // The port is announced on stderr once the socket listens.
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::smatch m;
      std::string err;
      for (const auto& e : fs::directory_iterator(logs)) {
        if (e.path().filename().string().rfind("stderr.", 0) == 0) err = ReadFile(e.path());
      }
      if (std::regex_search(err, m, listening)) port_ = std::stoi(m[1]);
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  int Port() const { return port_; }
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // SIGTERM, then the server's exit and output (its log is on stderr). Once only.
  ProcessResult Stop() {
    server_->Signal(SIGTERM);
    ProcessResult r = server_->Wait();
    server_.reset();
    return r;
  }
  bool running() const { return server_ != nullptr; }
  void Signal(int sig) const { server_->Signal(sig); }

 private:
  std::unique_ptr<RunningDsagent> server_;
  int port_ = 0;
};

}  // namespace dsagent::testing
