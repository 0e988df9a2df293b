#include "evals/swebench_logs.h"

#include <optional>
#include <regex>
#include <sstream>
#include <vector>

namespace dsagent::evals {
namespace {

std::vector<std::string> Lines(std::string_view log) {
  std::vector<std::string> out;
  std::istringstream in{std::string(log)};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

std::string Strip(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TestStatusMap ParseSwebenchPytestLog(std::string_view log, bool shorten_options) {
  static const std::regex kOption(R"((.*?)\[(.*)\])");
  TestStatusMap out;
  for (std::string line : Lines(log)) {
    // Upstream: a line starting with a status value; FAILED lines lose " - "; split on spaces;
    // the first word is the status, the second the test.
    if (line.rfind("FAILED", 0) == 0) {
      for (size_t p; (p = line.find(" - ")) != std::string::npos;) line.replace(p, 3, " ");
    }
    std::istringstream words(line);
    std::string word, name;
    words >> word >> name;
    const std::optional<TestStatus> status = ParseTestStatus(word);
    if (!status || name.empty()) continue;
    std::smatch m;
    if (shorten_options && std::regex_search(name, m, kOption)) {
      std::string option = m[2].str();
      if (option.rfind("/", 0) == 0 && option.rfind("//", 0) != 0 &&
          option.find('*') == std::string::npos) {
        option = "/" + option.substr(option.rfind('/') + 1);
      }
      name = m[1].str() + "[" + option + "]";
    }
    out[name] = *status;
  }
  return out;
}

TestStatusMap ParseDjangoLog(std::string_view log) {
  TestStatusMap out;
  std::optional<std::string> prev_test;
  const std::string text(log);
  for (const std::string& raw : Lines(log)) {
    const std::string line = Strip(raw);
    if (line.find("--version is equivalent to version") != std::string::npos) {
      out["--version is equivalent to version"] = TestStatus::kPassed;
    }
    if (const size_t p = line.find(" ... "); p != std::string::npos) prev_test = line.substr(0, p);
    for (const char* suffix : {" ... ok", " ... OK", " ...  OK"}) {
      if (EndsWith(line, suffix)) {
        out[line.substr(0, line.rfind(suffix))] = TestStatus::kPassed;
        break;
      }
    }
    if (const size_t p = line.find(" ... skipped"); p != std::string::npos) {
      out[line.substr(0, p)] = TestStatus::kSkipped;
    }
    if (EndsWith(line, " ... FAIL"))
      out[line.substr(0, line.find(" ... FAIL"))] = TestStatus::kFailed;
    if (line.rfind("FAIL:", 0) == 0) {
      std::istringstream w(line);
      std::string tag, test;
      w >> tag >> test;
      if (!test.empty()) out[test] = TestStatus::kFailed;
    }
    if (EndsWith(line, " ... ERROR"))
      out[line.substr(0, line.find(" ... ERROR"))] = TestStatus::kError;
    if (line.rfind("ERROR:", 0) == 0) {
      std::istringstream w(line);
      std::string tag, test;
      w >> tag >> test;
      if (!test.empty()) out[test] = TestStatus::kError;
    }
    // "ok" on its own line: the test passed after printing something between "..." and "ok".
    if (line.rfind("ok", 0) == 0 && prev_test) out[*prev_test] = TestStatus::kPassed;
  }
  // Upstream's fix-ups for output that interrupts the "... ok" line.
  static const std::regex kInterrupted[] = {
      std::regex(
          R"((?:^|\n)([^\n]*?)\s\.\.\.\sTesting against Django installed in [\s\S]*? silenced\)\.\nok(?=\n|$))"),
      std::regex(R"((?:^|\n)([^\n]*?)\s\.\.\.\sInternal Server Error: \/([^\n]*)\/\nok(?=\n|$))"),
      std::regex(
          R"((?:^|\n)([^\n]*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok(?=\n|$))")};
  for (const std::regex& re : kInterrupted) {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it) {
      out[(*it)[1].str()] = TestStatus::kPassed;
    }
  }
  return out;
}

TestStatusMap ParseSympyLog(std::string_view log) {
  static const std::regex kFailureHeader(R"((_*) (.*)\.py:(.*) (_*))");
  TestStatusMap out;
  const std::string text(log);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kFailureHeader);
       it != std::sregex_iterator(); ++it) {
    out[(*it)[2].str() + ".py:" + (*it)[3].str()] = TestStatus::kFailed;
  }
  for (const std::string& raw : Lines(log)) {
    const std::string line = Strip(raw);
    if (line.rfind("test_", 0) != 0) continue;
    const std::string test = line.substr(0, line.find_first_of(" \t"));
    if (EndsWith(line, " E")) out[test] = TestStatus::kError;
    if (EndsWith(line, " F")) out[test] = TestStatus::kFailed;
    if (EndsWith(line, " ok")) out[test] = TestStatus::kPassed;
  }
  return out;
}

std::string SwebenchFrameworkForRepo(const std::string& repo) {
  if (repo == "django/django") return "swebench:django";
  if (repo == "sympy/sympy") return "swebench:sympy";
  if (repo == "psf/requests" || repo == "pydicom/pydicom" || repo == "pylint-dev/pylint") {
    return "swebench:pytest_options";
  }
  return "swebench:pytest";
}

}  // namespace dsagent::evals
