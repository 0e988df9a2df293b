#include "evals/test_log.h"

#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <string>

#include "common/file_io.h"
#include "common/json.h"
#include "common/name_table.h"
#include "evals/swebench_logs.h"

namespace dsagent::evals {
namespace {

template <class F>
void ForEachLine(std::string_view log, F&& f) {
  size_t start = 0;
  while (start <= log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string_view::npos) end = log.size();
    std::string line(log.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    f(line);
    if (end == log.size()) break;
    start = end + 1;
  }
}

// SWE-bench's names (the words pytest prints).
constexpr EnumName<TestStatus> kTestStatusNames[] = {{TestStatus::kPassed, "PASSED"},
                                                     {TestStatus::kFailed, "FAILED"},
                                                     {TestStatus::kSkipped, "SKIPPED"},
                                                     {TestStatus::kError, "ERROR"},
                                                     {TestStatus::kXfail, "XFAIL"}};

// A pytest status word; XPASS counts as PASSED.
std::optional<TestStatus> PytestStatus(const std::string& word) {
  if (word == "XPASS") return TestStatus::kPassed;
  return ValueNamed(kTestStatusNames, word);
}

// Decodes the five predefined XML entities (enough for test names).
std::string XmlUnescape(std::string s) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : kEntities) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += std::strlen(to)) {
      s.replace(pos, std::strlen(from), to);
    }
  }
  return s;
}

// XML's whitespace (the S production): space, tab, CR, LF.
bool IsXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The value of attribute `name` in an XML start tag, unescaped; "" when absent. Scanned by hand:
// std::regex recurses once per character it repeats over, and a JUnit report's attribute values
// (failure messages, the class path in <properties>) are long enough to overflow the stack (seen
// under ASan in the Java polyglot case).
std::string Attribute(const std::string& tag, const std::string& name) {
  for (size_t pos = tag.find(name); pos != std::string::npos; pos = tag.find(name, pos + 1)) {
    if (pos == 0 || !IsXmlSpace(tag[pos - 1])) continue;
    size_t i = pos + name.size();
    while (i < tag.size() && IsXmlSpace(tag[i])) ++i;
    if (i >= tag.size() || tag[i] != '=') continue;
    ++i;
    while (i < tag.size() && IsXmlSpace(tag[i])) ++i;
    if (i >= tag.size() || (tag[i] != '"' && tag[i] != '\'')) continue;
    const char quote = tag[i];
    const size_t end = tag.find(quote, i + 1);
    if (end == std::string::npos) return "";
    return XmlUnescape(tag.substr(i + 1, end - i - 1));
  }
  return "";
}

// The test id at the start of `rest` ("t.py::test_x[a - b] - AssertionError: ..."): up to the
// first " - " outside the parameter brackets (ids may hold spaces, brackets and " - " inside
// them), trailing spaces trimmed.
std::string PytestId(const std::string& rest) {
  int depth = 0;
  size_t end = rest.size();
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '[') ++depth;
    if (rest[i] == ']' && depth > 0) --depth;
    if (depth == 0 && rest.compare(i, 3, " - ") == 0) {
      end = i;
      break;
    }
  }
  std::string id = rest.substr(0, end);
  while (!id.empty() && id.back() == ' ') id.pop_back();
  return id;
}

}  // namespace

const char* TestStatusName(TestStatus s) { return NameOf(kTestStatusNames, s).data(); }

std::optional<TestStatus> ParseTestStatus(std::string_view name) {
  return ValueNamed(kTestStatusNames, name);
}

TestStatusMap ParsePytestLog(std::string_view log) {
  // "-rA" summary: "PASSED tests/t.py::test_a", "FAILED tests/t.py::test_b[x y] - AssertionError".
  static const std::regex kSummary(R"(^(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS) (\S+::.+)$)");
  // "-v": "tests/t.py::test_a PASSED   [ 50%]", "tests/t.py::test_s SKIPPED (why) [ 75%]".
  static const std::regex kVerbose(R"(^(\S+::.+?) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b)");
  TestStatusMap out;
  ForEachLine(log, [&](const std::string& line) {
    std::smatch m;
    if (std::regex_match(line, m, kSummary)) {
      out[PytestId(m[2].str())] = *PytestStatus(m[1].str());
    } else if (std::regex_search(line, m, kVerbose)) {
      out[m[1].str()] = *PytestStatus(m[2].str());
    }
  });
  return out;
}

TestStatusMap ParseCtestLog(std::string_view log) {
  static const std::regex kLine(R"(Test\s+#\d+:\s+(\S+)\s+\.*\s*(.*)$)");
  TestStatusMap out;
  ForEachLine(log, [&](const std::string& line) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) return;
    const std::string rest = m[2].str();
    if (rest.find("Passed") != std::string::npos) {
      out[m[1].str()] = TestStatus::kPassed;
    } else if (rest.find("Skipped") != std::string::npos ||
               rest.find("Disabled") != std::string::npos) {
      out[m[1].str()] = TestStatus::kSkipped;
    } else if (!rest.empty()) {  // "***Failed", "***Not Run", "***Timeout", "***Exception: ..."
      out[m[1].str()] = TestStatus::kFailed;
    }
  });
  return out;
}

TestStatusMap ParseGtestLog(std::string_view log) {
  static const std::regex kLine(
      R"(\[\s+(RUN|OK|FAILED|SKIPPED)\s+\]\s+([A-Za-z_][\w/]*\.[\w/]+)(\s|$))");
  TestStatusMap out;
  std::set<std::string> running;
  ForEachLine(log, [&](const std::string& line) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) return;
    const std::string word = m[1].str(), name = m[2].str();
    if (word == "RUN") {
      running.insert(name);
      return;
    }
    running.erase(name);
    out[name] = word == "OK"       ? TestStatus::kPassed
                : word == "FAILED" ? TestStatus::kFailed
                                   : TestStatus::kSkipped;
  });
  for (const std::string& crashed : running) out.emplace(crashed, TestStatus::kFailed);
  return out;
}

TestStatusMap ParseJunitXml(std::string_view xml) {
  // Scanned by hand, not with std::regex, which recurses per character and overflowed the stack
  // on long reports. Attribute values may hold '>' (Catch2 names like "eggs -> not allergic"):
  // quoted strings are skipped whole.
  constexpr std::string_view kOpen = "<testcase", kClose = "</testcase>";
  TestStatusMap out;
  size_t pos = 0;
  while ((pos = xml.find(kOpen, pos)) != std::string_view::npos) {
    const size_t attrs_begin = pos + kOpen.size();
    if (attrs_begin < xml.size() && !IsXmlSpace(xml[attrs_begin]) && xml[attrs_begin] != '>' &&
        xml[attrs_begin] != '/') {
      pos = attrs_begin;  // another element, e.g. <testcases>
      continue;
    }
    size_t tag_end = std::string_view::npos;
    char quote = 0;
    for (size_t i = attrs_begin; i < xml.size(); ++i) {
      if (quote != 0) {
        if (xml[i] == quote) quote = 0;
      } else if (xml[i] == '"' || xml[i] == '\'') {
        quote = xml[i];
      } else if (xml[i] == '>') {
        tag_end = i;
        break;
      }
    }
    if (tag_end == std::string_view::npos) break;
    const bool self_closing = xml[tag_end - 1] == '/';
    const std::string attrs =
        " " + std::string(xml.substr(attrs_begin, tag_end - (self_closing ? 1 : 0) - attrs_begin));
    std::string_view body;
    pos = tag_end + 1;
    if (!self_closing) {
      const size_t close = xml.find(kClose, pos);
      if (close == std::string_view::npos) break;
      body = xml.substr(pos, close - pos);
      pos = close + kClose.size();
    }
    const std::string name = Attribute(attrs, "name"), cls = Attribute(attrs, "classname");
    if (name.empty()) continue;
    TestStatus s = TestStatus::kPassed;
    if (body.find("<failure") != std::string_view::npos) {
      s = TestStatus::kFailed;
    } else if (body.find("<error") != std::string_view::npos) {
      s = TestStatus::kError;
    } else if (body.find("<skipped") != std::string_view::npos) {
      s = TestStatus::kSkipped;
    }
    out[cls.empty() ? name : cls + "::" + name] = s;
  }
  return out;
}

TestStatusMap ParseGoTestLog(std::string_view log) {
  static const std::regex kLine(R"(^\s*--- (PASS|FAIL|SKIP): (\S+) \()");
  TestStatusMap out;
  ForEachLine(log, [&](const std::string& line) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) return;
    const std::string word = m[1].str();
    out[m[2].str()] = word == "PASS"   ? TestStatus::kPassed
                      : word == "FAIL" ? TestStatus::kFailed
                                       : TestStatus::kSkipped;
  });
  return out;
}

TestStatusMap ParseCargoTestLog(std::string_view log) {
  // "     Running tests/anagram.rs (target/debug/deps/anagram-0f1e)",
  // "     Running unittests src/lib.rs (target/debug/deps/x-9a)", "   Doc-tests anagram".
  static const std::regex kRunning(R"(^\s*Running (?:unittests )?(\S+))");
  static const std::regex kDoc(R"(^\s*Doc-tests \S+)");
  static const std::regex kTest(R"(^test (.+?) \.\.\. (ok|FAILED|ignored)\b)");
  TestStatusMap out;
  std::string target;
  ForEachLine(log, [&](const std::string& line) {
    std::smatch m;
    if (std::regex_search(line, m, kRunning)) {
      target = m[1].str();
    } else if (std::regex_search(line, kDoc)) {
      target = "doc-tests";
    } else if (std::regex_search(line, m, kTest)) {
      const std::string word = m[2].str();
      out[(target.empty() ? "" : target + "::") + m[1].str()] = word == "ok" ? TestStatus::kPassed
                                                                : word == "FAILED"
                                                                    ? TestStatus::kFailed
                                                                    : TestStatus::kSkipped;
    }
  });
  return out;
}

TestStatusMap ParseJestJson(std::string_view json, const std::filesystem::path& workdir) {
  namespace fs = std::filesystem;
  TestStatusMap out;
  const Json report = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.contains("testResults")) return out;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(workdir, ec);
  for (const Json& file : report["testResults"]) {
    const fs::path path = fs::weakly_canonical(fs::path(file.value("name", "")), ec);
    std::string rel = path.lexically_relative(root).string();
    if (rel.empty() || rel.rfind("..", 0) == 0) rel = path.filename().string();
    if (!file.contains("assertionResults")) continue;
    for (const Json& a : file["assertionResults"]) {
      std::string id = rel + "::";
      for (const Json& d : a.value("ancestorTitles", Json::array())) {
        if (d.is_string()) id += d.get<std::string>() + " > ";
      }
      id += a.value("title", "");
      const std::string status = a.value("status", "");
      out[id] = status == "passed"   ? TestStatus::kPassed
                : status == "failed" ? TestStatus::kFailed
                                     : TestStatus::kSkipped;
    }
  }
  return out;
}

Expected<TestStatusMap, std::string> ParseTestResults(const std::string& framework,
                                                      std::string_view log,
                                                      const std::filesystem::path& workdir) {
  auto merge = [](TestStatusMap into, const TestStatusMap& from) {
    for (const auto& [k, v] : from) into[k] = v;
    return into;
  };
  if (framework == "pytest") return ParsePytestLog(log);
  if (framework == "gtest") return ParseGtestLog(log);
  if (framework == "go") return ParseGoTestLog(log);
  if (framework == "swebench:pytest") return ParseSwebenchPytestLog(log, false);
  if (framework == "swebench:pytest_options") return ParseSwebenchPytestLog(log, true);
  if (framework == "swebench:django") return ParseDjangoLog(log);
  if (framework == "swebench:sympy") return ParseSympyLog(log);
  if (framework == "cargo") return ParseCargoTestLog(log);
  if (framework == "ctest") return merge(ParseGtestLog(log), ParseCtestLog(log));
  if (framework.empty()) {
    return merge(merge(ParseGtestLog(log), ParseCtestLog(log)), ParsePytestLog(log));
  }
  for (const char* kind : {"junit:", "jest:"}) {
    if (framework.rfind(kind, 0) != 0) continue;
    const std::filesystem::path report = workdir / framework.substr(std::strlen(kind));
    if (!std::filesystem::exists(report)) return TestStatusMap{};
    auto text = ReadFileToString(report);
    if (!text) return MakeUnexpected(text.error());
    return kind[1] == 'u' ? ParseJunitXml(*text) : ParseJestJson(*text, workdir);
  }
  return MakeUnexpected(
      "unknown test_framework '" + framework +
      "' (pytest, ctest, gtest, go, cargo, junit:<file>, jest:<file>, swebench:pytest, "
      "swebench:pytest_options, swebench:django, swebench:sympy)");
}

}  // namespace dsagent::evals
