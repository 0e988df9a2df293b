#include "tools/repomap/language.h"

#include <tree_sitter/api.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include "tools/repomap/queries.h"

// The grammars CMake compiled (DSAGENT_GRAMMAR_<LANG> is defined for each one found).
extern "C" {
#ifdef DSAGENT_GRAMMAR_C
const TSLanguage* tree_sitter_c(void);
#endif
#ifdef DSAGENT_GRAMMAR_CPP
const TSLanguage* tree_sitter_cpp(void);
#endif
#ifdef DSAGENT_GRAMMAR_PYTHON
const TSLanguage* tree_sitter_python(void);
#endif
#ifdef DSAGENT_GRAMMAR_JAVASCRIPT
const TSLanguage* tree_sitter_javascript(void);
#endif
#ifdef DSAGENT_GRAMMAR_TYPESCRIPT
const TSLanguage* tree_sitter_typescript(void);
#endif
#ifdef DSAGENT_GRAMMAR_TSX
const TSLanguage* tree_sitter_tsx(void);
#endif
#ifdef DSAGENT_GRAMMAR_GO
const TSLanguage* tree_sitter_go(void);
#endif
#ifdef DSAGENT_GRAMMAR_RUST
const TSLanguage* tree_sitter_rust(void);
#endif
#ifdef DSAGENT_GRAMMAR_JAVA
const TSLanguage* tree_sitter_java(void);
#endif
}

namespace dsagent::repomap {
namespace {

enum LanguageId { kC, kCpp, kPython, kJavaScript, kTypeScript, kTsx, kGo, kRust, kJava, kCount };

const std::array<Language, kCount>& Languages() {
  static const std::array<Language, kCount> languages = [] {
    std::array<Language, kCount> l;
    l[kC] = {"c", "c", nullptr};
    l[kCpp] = {"cpp", "cpp", nullptr};
    l[kPython] = {"python", "python", nullptr};
    l[kJavaScript] = {"javascript", "javascript", nullptr};
    l[kTypeScript] = {"typescript", "typescript", nullptr};
    l[kTsx] = {"tsx", "typescript", nullptr};
    l[kGo] = {"go", "go", nullptr};
    l[kRust] = {"rust", "rust", nullptr};
    l[kJava] = {"java", "java", nullptr};
#ifdef DSAGENT_GRAMMAR_C
    l[kC].grammar = tree_sitter_c();
#endif
#ifdef DSAGENT_GRAMMAR_CPP
    l[kCpp].grammar = tree_sitter_cpp();
#endif
#ifdef DSAGENT_GRAMMAR_PYTHON
    l[kPython].grammar = tree_sitter_python();
#endif
#ifdef DSAGENT_GRAMMAR_JAVASCRIPT
    l[kJavaScript].grammar = tree_sitter_javascript();
#endif
#ifdef DSAGENT_GRAMMAR_TYPESCRIPT
    l[kTypeScript].grammar = tree_sitter_typescript();
#endif
#ifdef DSAGENT_GRAMMAR_TSX
    l[kTsx].grammar = tree_sitter_tsx();
#endif
#ifdef DSAGENT_GRAMMAR_GO
    l[kGo].grammar = tree_sitter_go();
#endif
#ifdef DSAGENT_GRAMMAR_RUST
    l[kRust].grammar = tree_sitter_rust();
#endif
#ifdef DSAGENT_GRAMMAR_JAVA
    l[kJava].grammar = tree_sitter_java();
#endif
    return l;
  }();
  return languages;
}

struct Extension {
  std::string_view ext;
  LanguageId id;
};

constexpr Extension kExtensions[] = {
    {".c", kC},
    {".h", kCpp},
    {".cc", kCpp},
    {".cpp", kCpp},
    {".cxx", kCpp},
    {".c++", kCpp},
    {".hh", kCpp},
    {".hpp", kCpp},
    {".hxx", kCpp},
    {".inl", kCpp},
    {".ipp", kCpp},
    {".py", kPython},
    {".pyi", kPython},
    {".js", kJavaScript},
    {".mjs", kJavaScript},
    {".cjs", kJavaScript},
    {".jsx", kJavaScript},
    {".ts", kTypeScript},
    {".mts", kTypeScript},
    {".cts", kTypeScript},
    {".tsx", kTsx},
    {".go", kGo},
    {".rs", kRust},
    {".java", kJava},
};

}  // namespace

const Language* LanguageForPath(std::string_view relative_path) {
  const std::string ext = std::filesystem::path(relative_path).extension().string();
  for (const Extension& e : kExtensions) {
    if (e.ext == ext) return &Languages()[e.id];
  }
  return nullptr;
}

std::string_view TagsQuerySource(const Language& language) {
  auto text = repomap_queries::Find(language.query_name + ".scm");
  return text ? *text : std::string_view();
}

std::vector<std::string> UnavailableLanguages() {
  std::vector<std::string> out;
  for (const Language& l : Languages()) {
    if (l.grammar == nullptr) out.push_back(l.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace dsagent::repomap
