// The languages the repo map understands: which file names belong to which tree-sitter grammar,
// and the tags query (queries/<query_name>.scm, embedded at build time) that finds definitions and
// references in it. Grammars are compiled in only when scripts/setup.sh fetched them; a language
// whose grammar is missing is still recognised, so its files are reported as skipped, not ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

struct TSLanguage;

namespace dsagent::repomap {

struct Language {
  std::string name;        // "c", "cpp", "python", "javascript", "typescript", "tsx", "go", ...
  std::string query_name;  // queries/<query_name>.scm
  // The grammar, or nullptr when it was not built (see UnavailableLanguages()). Static lifetime.
  const TSLanguage* grammar = nullptr;
};

// The language of `relative_path` from its extension (".h" counts as C++, the safer superset),
// or nullptr when the repo map does not know it. The result has static lifetime. Thread-safe.
const Language* LanguageForPath(std::string_view relative_path);

// The source of the tags query for `language` (empty if none is embedded). Thread-safe.
std::string_view TagsQuerySource(const Language& language);

// Names of the known languages whose grammar was not compiled in, sorted. Thread-safe.
std::vector<std::string> UnavailableLanguages();

}  // namespace dsagent::repomap
