// What the end-to-end tests of real coding clients against `dsagent serve` share
// (claude_code_e2e_test.cc, codex_e2e_test.cc, opencode_e2e_test.cc): where scripts/
// setup-clients.sh installs the clients, how a client is run (offline, clean environment), and
// how the server's own log is read back, one entry per request it answered.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "common/json.h"

namespace dsagent::testing {

// A client's executable as scripts/setup-clients.sh installs it (npm's .bin link).
inline std::filesystem::path InstalledClient(const std::string& name) {
  return std::filesystem::path(DSAGENT_SOURCE_DIR) / ".deps/clients/node_modules/.bin" / name;
}

// The JSON objects among the lines of a client's output (other lines are skipped).
inline std::vector<Json> JsonLines(const std::string& out) {
  std::vector<Json> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    Json j = Json::parse(out.substr(pos, end - pos), nullptr, false);
    if (!j.is_discarded() && j.is_object()) lines.push_back(std::move(j));
    pos = end + 1;
  }
  return lines;
}

inline std::string Quoted(const std::string& s) { return "'" + s + "'"; }

// A shell command line that runs `program args...` in `cwd` with exactly `env` (env -i), stdin
// from /dev/null, and a 600 s limit so a client that hangs fails the test instead of the run.
inline std::string ClientCommandLine(const std::filesystem::path& cwd,
                                     const std::map<std::string, std::string>& env,
                                     const std::filesystem::path& program,
                                     const std::vector<std::string>& args) {
  std::string cmd = "cd " + Quoted(cwd.string()) + " && env -i";
  for (const auto& [k, v] : env) cmd += " " + Quoted(k + "=" + v);
  cmd += " timeout 600 " + Quoted(program.string());
  for (const std::string& a : args) cmd += " " + Quoted(a);
  return cmd + " < /dev/null";
}

// One answered request in serve's log: "dsagent serve: responses stream: prompt 16534 (cache hit
// 0), completion 8 ...". `what` is "chat", "messages" or "responses", with " stream" if streamed,
// and ": cancelled" or ": client disconnected, ..." after it when the request did not finish.
struct ServedRequest {
  std::string what;
  int64_t prompt = 0;
  int64_t cache_hit = 0;
  std::string finish;
  double seconds = 0;  // the request's wall time in the server, queue included
};

inline std::vector<ServedRequest> ServedRequests(const std::string& serve_log) {
  static const std::regex line(
      "dsagent serve: ([a-z :,]+?): prompt ([0-9]+) \\(cache hit ([0-9]+)\\), completion [0-9]+ "
      "\\(reasoning [0-9]+\\), finish ([a-z_]+)[^,]*, ([0-9.]+) s");
  std::vector<ServedRequest> requests;
  for (auto it = std::sregex_iterator(serve_log.begin(), serve_log.end(), line);
       it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    requests.push_back({m[1], std::stoll(m[2]), std::stoll(m[3]), m[4], std::stod(m[5])});
  }
  return requests;
}

// One line per request on stdout (`ctest -V` shows it): what the client cost the server, for the
// record; the tests' assertions do not depend on it.
inline void PrintServedRequests(const std::string& client,
                                const std::vector<ServedRequest>& requests) {
  for (size_t i = 0; i < requests.size(); ++i) {
    std::printf("%s request %zu: %s, prompt %lld tokens, %lld from the prefix cache, %.2f s\n",
                client.c_str(), i + 1, requests[i].what.c_str(),
                static_cast<long long>(requests[i].prompt),
                static_cast<long long>(requests[i].cache_hit), requests[i].seconds);
  }
}

}  // namespace dsagent::testing
