// dsagent_campaign_server: the DeepSeek test server as a standalone process, for the crash and
// fault campaigns (scripts/campaign-*.sh), which run the real dsagent binary many times.
//
//   dsagent_campaign_server --port-file FILE [--key KEY] [--steps N] [--step-command CMD]
//       [--fault-rate P] [--faults LIST] [--seed S] [--drip-ms MS] [--oversized-bytes N]
//       [--stats-file FILE]
//
// Every chat request is answered from the conversation it carries, so a run that is killed and
// resumed gets the same next step: with k tool results in the request, the reply is the bash call
// `call-(k+1)` running CMD ("{k}" replaced by k+1) while k < N, then the text "done: N steps".
// With --fault-rate P, each request is first answered, with probability P, by a fault drawn
// uniformly from LIST (default all): 429 500 502 503 529 drop cut malformed drip oversized
// (drip and oversized deliver the normal reply, slowly or after --oversized-bytes of filler).
// Writes the port to FILE once listening; runs until SIGTERM or SIGINT, then writes the counts of
// requests and faults served as JSON to --stats-file.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent::testing {
namespace {

struct CampaignServerFlags {
  std::string port_file, stats_file, key = "test-key";
  int steps = 3;
  std::string step_command = "echo step-{k} >> steps.log";
  double fault_rate = 0;
  std::vector<std::string> faults = {"429", "500",       "502",  "503",      "529",
                                     "drop", "cut", "malformed", "drip", "oversized"};
  uint64_t seed = 1;
  int drip_ms = 20;
  size_t oversized_bytes = 8 << 20;
};

int CampaignUsage(const char* why) {
  std::fprintf(stderr, "dsagent_campaign_server: %s (see the comment at the top of the source)\n",
               why);
  return 2;
}

// Tool results in a chat request: "tool" messages (Chat Completions) or tool_result blocks
// (Anthropic Messages).
int ToolResults(const nlohmann::json& body) {
  int n = 0;
  if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array()) return 0;
  for (const auto& m : body["messages"]) {
    if (m.value("role", "") == "tool") ++n;
    if (m.contains("content") && m["content"].is_array()) {
      for (const auto& b : m["content"]) {
        if (b.is_object() && b.value("type", "") == "tool_result") ++n;
      }
    }
  }
  return n;
}

// The fault `name` in place of (or, for drip and oversized, wrapped around) the reply `normal`.
ScriptedReply FaultReply(const std::string& name, const CampaignServerFlags& f,
                         ScriptedReply normal) {
  if (name == "drop") return ScriptedReply::Fault(ScriptedReply::Kind::kDrop);
  if (name == "cut") return ScriptedReply::Cut("partial answ");
  if (name == "malformed") return ScriptedReply::Fault(ScriptedReply::Kind::kMalformed);
  if (name == "drip" || name == "oversized") {
    normal.kind = name == "drip" ? ScriptedReply::Kind::kDrip : ScriptedReply::Kind::kOversized;
    normal.drip_ms = f.drip_ms;
    normal.oversized_bytes = f.oversized_bytes;
    return normal;
  }
  const int status = std::atoi(name.c_str());
  const char* message = status == 429   ? "Rate Limit Reached"
                        : status == 529 ? "Overloaded"
                                        : "Server Error";
  return ScriptedReply::Error(status, message, status == 429 ? std::optional<int>(0) : std::nullopt);
}

int CampaignServerMain(int argc, char** argv) {
  CampaignServerFlags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return CampaignUsage(("missing value for " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--port-file") {
      f.port_file = v;
    } else if (a == "--stats-file") {
      f.stats_file = v;
    } else if (a == "--key") {
      f.key = v;
    } else if (a == "--steps") {
      f.steps = std::atoi(v.c_str());
    } else if (a == "--step-command") {
      f.step_command = v;
    } else if (a == "--fault-rate") {
      f.fault_rate = std::atof(v.c_str());
    } else if (a == "--faults") {
      f.faults.clear();
      std::stringstream ss(v);
      for (std::string item; std::getline(ss, item, ',');) f.faults.push_back(item);
    } else if (a == "--seed") {
      f.seed = std::strtoull(v.c_str(), nullptr, 10);
    } else if (a == "--drip-ms") {
      f.drip_ms = std::atoi(v.c_str());
    } else if (a == "--oversized-bytes") {
      f.oversized_bytes = std::strtoull(v.c_str(), nullptr, 10);
    } else {
      return CampaignUsage(("unknown flag " + a).c_str());
    }
  }
  if (f.port_file.empty()) return CampaignUsage("--port-file is required");
  if (f.faults.empty()) return CampaignUsage("--faults is empty");

  // Block the stop signals before any thread starts, so that sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  DeepSeekTestServer server;
  server.SetApiKey(f.key);
  server.KeepBodies(16);
  std::mutex mu;
  std::mt19937_64 rng(f.seed);
  std::map<std::string, int> served;
  server.SetResponder([&](const nlohmann::json& body) {
    std::lock_guard lock(mu);
    ++served["requests"];
    const int k = ToolResults(body);
    ScriptedReply normal = ScriptedReply::Text("done: " + std::to_string(f.steps) + " steps");
    if (k < f.steps) {
      std::string command = f.step_command;
      for (size_t at; (at = command.find("{k}")) != std::string::npos;) {
        command.replace(at, 3, std::to_string(k + 1));
      }
      normal = ScriptedReply::Calls({{"call-" + std::to_string(k + 1), "bash",
                                      CanonicalJson({{"command", command}})}});
    }
    if (f.fault_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < f.fault_rate) {
      const std::string& name = f.faults[rng() % f.faults.size()];
      ++served["fault:" + name];
      return FaultReply(name, f, std::move(normal));
    }
    return normal;
  });
  {
    std::ofstream port(f.port_file + ".tmp");
    port << server.Port() << "\n";
  }
  std::rename((f.port_file + ".tmp").c_str(), f.port_file.c_str());
  int sig = 0;
  sigwait(&stop, &sig);
  if (!f.stats_file.empty()) {
    std::lock_guard lock(mu);
    std::ofstream(f.stats_file) << nlohmann::json(served).dump() << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace dsagent::testing

int main(int argc, char** argv) { return dsagent::testing::CampaignServerMain(argc, argv); }
