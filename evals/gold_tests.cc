#include "evals/gold_tests.h"

#include <cstdint>
#include <cstdio>

#include "common/file_io.h"
#include "common/json.h"
#include "evals/evaluate.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

// FNV-1a, 64 bits: stable across builds and platforms (std::hash is not).
std::string ContentKey(const EvalTask& t) {
  uint64_t h = 1469598103934665603ull;
  for (const std::string* part : {&t.patch, &t.test_patch, &t.test_cmd, &t.test_framework}) {
    for (unsigned char c : *part) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

Expected<GoldTests, std::string> FindGoldTests(const EvalTask& task, const fs::path& origin,
                                               const fs::path& work_dir, const fs::path& cache_dir,
                                               const CancelToken& cancel,
                                               const TestEnvironment& environment) {
  const std::string key = ContentKey(task);
  const fs::path cache_file = cache_dir / (task.instance_id + ".json");
  if (auto text = ReadFileToString(cache_file)) {
    const Json j = Json::parse(*text, nullptr, false);
    if (!j.is_discarded() && j.value("key", "") == key && j.contains("ids")) {
      GoldTests g;
      g.ids = j["ids"].get<std::vector<std::string>>();
      g.failed = j.value("failed", std::vector<std::string>{});
      g.cached = true;
      if (!g.ids.empty()) return g;
    }
  }
  EvalTask probe = task;
  probe.fail_to_pass.clear();
  probe.pass_to_pass.clear();
  Evaluation ev = EvaluatePatch(probe, task.patch, origin, work_dir, cancel, environment);
  std::error_code ec;
  fs::remove_all(work_dir, ec);
  if (ev.interrupted) return MakeUnexpected(std::string("interrupted"));
  if (ev.status == "error") return MakeUnexpected("gold run: " + ev.error);
  GoldTests g;
  for (const auto& [id, status] : ev.statuses) {  // a std::map: sorted
    // A test the runner skips with the reference solution in place is skipped under Aider's
    // settings too (jest's xit, test.skip; go's t.Skip): Aider passes the exercise without it.
    if (status == TestStatus::kSkipped) continue;
    g.ids.push_back(id);
    if (status != TestStatus::kPassed && status != TestStatus::kXfail) g.failed.push_back(id);
  }
  if (g.ids.empty()) {
    std::string tail = ev.test_log;
    if (tail.size() > 2000) tail = "..." + tail.substr(tail.size() - 2000);
    return MakeUnexpected("gold run reported no tests (exit " + std::to_string(ev.test_exit_code) +
                          "); its output ends with: " + tail);
  }
  fs::create_directories(cache_dir, ec);
  const Json record = {{"key", key}, {"ids", g.ids}, {"failed", g.failed}};
  WriteFileAtomic(cache_file, record.dump(1) + "\n");  // best effort: a rerun just runs again
  return g;
}

}  // namespace dsagent::evals
