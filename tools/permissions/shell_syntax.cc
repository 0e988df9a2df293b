#include "tools/permissions/shell_syntax.h"

#include <algorithm>
#include <cstdlib>

#include "tools/permissions/shell_wrappers.h"

namespace dsagent {
namespace {

// Nesting deeper than this ($( $( ... ) ), bash -c "bash -c ...") is not followed: a doubt.
constexpr int kMaxDepth = 24;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Characters that end an unquoted word.
bool IsMeta(char c) {
  return IsBlank(c) || c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' || c == ')' ||
         c == '<' || c == '>';
}

bool IsNameStart(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// NAME=, NAME+= or NAME[...]= at the start of the word as written (quotes make it a plain word).
std::string AssignmentName(std::string_view raw) {
  if (raw.empty() || !IsNameStart(raw[0])) return "";
  size_t i = 1;
  while (i < raw.size() && IsNameChar(raw[i])) ++i;
  const size_t name_end = i;
  if (i < raw.size() && raw[i] == '[') {
    const size_t close = raw.find(']', i);
    if (close == std::string_view::npos) return "";
    i = close + 1;
  }
  if (i < raw.size() && raw[i] == '+') ++i;
  if (i < raw.size() && raw[i] == '=') return std::string(raw.substr(0, name_end));
  return "";
}

bool IsReservedPrefix(std::string_view w) {
  for (std::string_view r : {"if", "then", "elif", "else", "fi", "do", "done", "while", "until",
                             "!", "{", "}", "esac"}) {
    if (w == r) return true;
  }
  return false;
}

struct PendingHeredoc {
  std::string delimiter;
  bool strip_tabs = false;
  bool quoted = false;  // a quoted delimiter: the body is not expanded
};

class Parser {
 public:
  Parser(std::string_view src, ShellAnalysis& out, int depth)
      : src_(src), out_(out), depth_(depth) {}

  void Run() {
    ParseList(/*nested=*/false);
    if (!heredocs_.empty()) Doubt("a here-document has no end marker");
  }

 private:
  void Doubt(std::string why) {
    if (std::find(out_.doubts.begin(), out_.doubts.end(), why) == out_.doubts.end()) {
      out_.doubts.push_back(std::move(why));
    }
  }

  bool AtEnd() const { return pos_ >= src_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }

  // Blanks and backslash-newline line continuations.
  void SkipBlanks() {
    while (!AtEnd()) {
      if (IsBlank(Peek())) {
        ++pos_;
      } else if (Peek() == '\\' && Peek(1) == '\n') {
        pos_ += 2;
      } else {
        break;
      }
    }
  }

  void SkipComment() {
    while (!AtEnd() && Peek() != '\n') ++pos_;
  }

  // A list of commands: up to the end of input or, when nested (subshell, $(...)), up to and
  // including the matching ')'.
  void ParseList(bool nested) {
    if (++nesting_ > kMaxDepth) {
      Doubt("the command nests too deeply to check");
      pos_ = src_.size();
      return;
    }
    while (true) {
      SkipBlanks();
      if (AtEnd()) {
        if (nested) Doubt("a `(` or `$(` is not closed");
        break;
      }
      const char c = Peek();
      if (c == '#') {
        SkipComment();
      } else if (c == '\n') {
        ++pos_;
        ReadHeredocBodies();
      } else if (c == ';' || c == '&' || c == '|') {
        while (!AtEnd() && (Peek() == ';' || Peek() == '&' || Peek() == '|')) ++pos_;
      } else if (c == ')') {
        ++pos_;
        if (nested) break;
        Doubt("a `)` has no matching `(`");
      } else {
        ParseCommand();
      }
    }
    --nesting_;
  }

  // One simple command (with its redirections), or a reserved word, or a subshell.
  void ParseCommand() {
    ShellCommand cmd;
    bool name_seen = false;
    bool in_test = false;  // inside [[ ... ]]: && || < > ( ) are operands, not operators
    while (true) {
      SkipBlanks();
      if (AtEnd()) break;
      const char c = Peek();
      if (c == '\n') break;
      if (in_test && (c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')')) {
        const size_t start = pos_;
        while (!AtEnd() && std::string_view("&|<>()").find(Peek()) != std::string_view::npos) {
          ++pos_;
        }
        const std::string op(src_.substr(start, pos_ - start));
        cmd.words.push_back({op, op, true});
        continue;
      }
      if (c == '#') {
        SkipComment();
        break;
      }
      if (c == ';' || c == '|' || c == ')') break;
      if (c == '&' && Peek(1) != '>') break;
      if (c == '(' && !name_seen && !cmd.assignments.empty() && pos_ > 0 && src_[pos_ - 1] == '=') {
        ReadArrayLiteral();  // NAME=(a b c)
        continue;
      }
      if (c == '(') {
        if (Peek(1) == '(' && !name_seen && cmd.assignments.empty()) {
          SkipArithmetic(pos_ + 2);  // (( arithmetic ))
          continue;
        }
        if (name_seen || !cmd.assignments.empty()) {
          Doubt("function definitions are not checked");
        }
        ++pos_;
        ParseList(/*nested=*/true);  // a subshell; redirections may follow it
        continue;
      }
      if (TryRedirection()) continue;
      const size_t start = pos_;
      ShellWord word = ReadWord();
      if (pos_ == start) {  // cannot happen for a non-meta character; never loop forever
        ++pos_;
        continue;
      }
      if (in_test) {
        if (word.text == "]]") in_test = false;
        cmd.words.push_back(std::move(word));
        continue;
      }
      if (!name_seen) {
        if (std::string name = AssignmentName(word.raw); !name.empty()) {
          if (IsSensitiveVariable(name)) {
            Doubt("it sets " + name + ", which changes what later commands run");
          }
          cmd.assignments.push_back(word.raw);
          continue;
        }
        if (word.literal && word.raw == word.text) {
          if (IsReservedPrefix(word.text)) continue;
          if (word.text == "time") {  // the keyword; `time -p` takes an option
            SkipBlanks();
            if (Peek() == '-' && Peek(1) == 'p' && (Peek(2) == '\0' || IsMeta(Peek(2)))) pos_ += 2;
            continue;
          }
          if (word.text == "for" || word.text == "select") {
            ReadForClause();
            return;
          }
          if (word.text == "case") Doubt("case statements are not checked");
          if (word.text == "function") Doubt("function definitions are not checked");
          if (word.text == "coproc") Doubt("coproc is not checked");
          if (word.text == "[[") in_test = true;
        }
        name_seen = true;
      }
      cmd.words.push_back(std::move(word));
    }
    if (!cmd.words.empty()) Record(std::move(cmd), 0);
  }

  // After NAME=: the words of an array up to the closing ')'; substitutions in them run.
  void ReadArrayLiteral() {
    ++pos_;
    while (true) {
      SkipBlanks();
      if (AtEnd()) {
        Doubt("an array `(` is not closed");
        return;
      }
      if (Peek() == ')') {
        ++pos_;
        return;
      }
      if (Peek() == '\n' || IsMeta(Peek())) {
        ++pos_;
        continue;
      }
      ReadWord();
    }
  }

  // `for NAME in WORDS` / `for ((...))` / `select NAME in WORDS`: the words are not commands,
  // but substitutions in them run (ReadWord records them).
  void ReadForClause() {
    while (true) {
      SkipBlanks();
      if (AtEnd() || Peek() == '\n' || Peek() == ';' || Peek() == '&' || Peek() == '|' ||
          Peek() == ')') {
        return;
      }
      if (Peek() == '(' && Peek(1) == '(') {
        SkipArithmetic(pos_ + 2);
        continue;
      }
      const size_t start = pos_;
      ReadWord();
      if (pos_ == start) ++pos_;
    }
  }

  // After `((` or `$((`: skips to the matching `))`. Substitutions inside are not followed.
  void SkipArithmetic(size_t from) {
    int depth = 2;
    size_t i = from;
    for (; i < src_.size() && depth > 0; ++i) {
      if (src_[i] == '(') ++depth;
      if (src_[i] == ')') --depth;
    }
    const std::string_view body = src_.substr(from, i - from);
    if (body.find("$(") != std::string_view::npos || body.find('`') != std::string_view::npos) {
      Doubt("a command substitution inside arithmetic is not checked");
    }
    if (depth > 0) Doubt("a `((` is not closed");
    pos_ = i;
  }

  // Redirections: [N]> [N]>> [N]>| &> &>> [N]< [N]<> [N]<< [N]<<- [N]<<< [N]>&M [N]<&M, and
  // process substitution <(...) >(...). Returns false when pos_ is not at one.
  bool TryRedirection() {
    size_t i = pos_;
    while (i < src_.size() && src_[i] >= '0' && src_[i] <= '9') ++i;
    if (i >= src_.size()) return false;
    const char c = src_[i];
    bool amp_prefix = false;
    if (c == '&' && i == pos_ && i + 1 < src_.size() && src_[i + 1] == '>') {
      amp_prefix = true;
    } else if (c != '<' && c != '>') {
      return false;
    }
    if (i == pos_ && !amp_prefix && i + 1 < src_.size() && src_[i + 1] == '(') {
      Doubt("process substitution is not checked");
      pos_ = i + 2;
      ParseList(/*nested=*/true);
      return true;
    }
    static constexpr std::string_view kOperators[] = {"&>>", "<<<", "<<-", "&>", ">>", ">|",
                                                      ">&",  "<<",  "<>",  "<&", ">",  "<"};
    const std::string_view rest = src_.substr(i);
    std::string_view op;
    for (std::string_view candidate : kOperators) {
      if (rest.substr(0, candidate.size()) == candidate) {
        op = candidate;
        break;
      }
    }
    pos_ = i + op.size();
    SkipBlanks();
    if (AtEnd() || IsMeta(Peek())) {
      Doubt("a redirection has no target");
      return true;
    }
    bool quoted = false;
    ShellWord target = ReadWord(&quoted);
    if (op == "<<" || op == "<<-") {
      heredocs_.push_back({target.text, op == "<<-", quoted});
    } else if (op == "<" || op == "<<<" || op == "<&") {
      // reads (and fd duplication) write nothing
    } else if (op == ">&" && (target.text == "-" || IsNumber(target.text))) {
      // fd duplication: 2>&1, >&-
    } else {
      out_.writes.push_back({target.text, target.literal});
    }
    return true;
  }

  static bool IsNumber(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  // After a newline: the bodies of the here-documents started on the line just ended.
  void ReadHeredocBodies() {
    for (const PendingHeredoc& h : heredocs_) {
      bool closed = false;
      while (!AtEnd()) {
        size_t eol = src_.find('\n', pos_);
        if (eol == std::string_view::npos) eol = src_.size();
        std::string_view line = src_.substr(pos_, eol - pos_);
        pos_ = std::min(eol + 1, src_.size());
        if (h.strip_tabs) {
          while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
        }
        if (line == h.delimiter) {
          closed = true;
          break;
        }
        if (!h.quoted && (line.find("$(") != std::string_view::npos ||
                          line.find('`') != std::string_view::npos)) {
          Doubt("a here-document runs a command substitution");
        }
      }
      if (!closed) Doubt("a here-document has no end marker");
    }
    heredocs_.clear();
  }

  // One word at pos_ (which must not be a meta character): quotes, escapes, expansions and
  // substitutions up to the next unquoted meta character. Substitutions are parsed (their
  // commands recorded) on the way. `quoted` (optional): set when any quoting appeared.
  ShellWord ReadWord(bool* quoted = nullptr) {
    ShellWord w;
    const size_t start = pos_;
    bool any_quote = false;
    bool brace_open = false;
    bool brace_list = false;
    while (!AtEnd() && !IsMeta(Peek())) {
      const char c = Peek();
      if (c == '\\') {
        if (Peek(1) == '\n') {
          pos_ += 2;
        } else if (pos_ + 1 < src_.size()) {
          w.text += src_[pos_ + 1];
          pos_ += 2;
          any_quote = true;
        } else {
          w.text += '\\';
          ++pos_;
        }
      } else if (c == '\'') {
        const size_t end = src_.find('\'', pos_ + 1);
        any_quote = true;
        if (end == std::string_view::npos) {
          Doubt("a single quote is not closed");
          w.text += src_.substr(pos_ + 1);
          pos_ = src_.size();
        } else {
          w.text += src_.substr(pos_ + 1, end - pos_ - 1);
          pos_ = end + 1;
        }
      } else if (c == '"') {
        any_quote = true;
        ReadDoubleQuoted(w);
      } else if (c == '`') {
        ReadBackticks(w);
      } else if (c == '$') {
        ReadDollar(w, /*in_double_quotes=*/false, &any_quote);
      } else if (c == '~' && pos_ == start) {
        // Tilde expansion: ~ and ~/... are $HOME; ~user is left as written (not literal).
        const char n = Peek(1);
        const char* home = std::getenv("HOME");
        if ((n == '/' || n == '\0' || IsMeta(n)) && home != nullptr && *home != '\0') {
          w.text += home;
        } else {
          w.text += c;
          w.literal = false;
        }
        ++pos_;
      } else {
        if (c == '*' || c == '?') w.literal = false;
        if (c == '[') {  // a glob class needs its ']' in the same word: `[` and `[[` are commands
          size_t k = pos_ + 1;
          while (k < src_.size() && !IsMeta(src_[k]) && src_[k] != ']') ++k;
          if (k < src_.size() && src_[k] == ']' && k > pos_ + 1) w.literal = false;
        }
        if (c == '{') brace_open = true;
        if (brace_open && (c == ',' || (c == '.' && Peek(1) == '.'))) brace_list = true;
        if (c == '}' && brace_list) w.literal = false;  // brace expansion: {rm,-rf,x}
        w.text += c;
        ++pos_;
      }
    }
    w.raw = std::string(src_.substr(start, pos_ - start));
    if (quoted != nullptr) *quoted = any_quote;
    return w;
  }

  void ReadDoubleQuoted(ShellWord& w) {
    ++pos_;  // the opening quote
    while (!AtEnd()) {
      const char c = Peek();
      if (c == '"') {
        ++pos_;
        return;
      }
      if (c == '\\') {
        const char n = Peek(1);
        if (n == '\n') {
          pos_ += 2;
        } else if (n == '$' || n == '`' || n == '"' || n == '\\') {
          w.text += n;
          pos_ += 2;
        } else {
          w.text += '\\';
          ++pos_;
        }
      } else if (c == '$') {
        ReadDollar(w, /*in_double_quotes=*/true, nullptr);
      } else if (c == '`') {
        ReadBackticks(w);
      } else {
        w.text += c;
        ++pos_;
      }
    }
    Doubt("a double quote is not closed");
  }

  // `...`: the body, with \` \\ \$ unescaped, is a command string of its own.
  void ReadBackticks(ShellWord& w) {
    const size_t start = pos_;
    std::string body;
    size_t i = pos_ + 1;
    bool closed = false;
    for (; i < src_.size(); ++i) {
      if (src_[i] == '\\' && i + 1 < src_.size()) {
        const char n = src_[i + 1];
        if (n == '`' || n == '\\' || n == '$') {
          body += n;
        } else {
          body += '\\';
          body += n;
        }
        ++i;
      } else if (src_[i] == '`') {
        closed = true;
        break;
      } else {
        body += src_[i];
      }
    }
    if (!closed) Doubt("a backquote is not closed");
    pos_ = closed ? i + 1 : src_.size();
    AnalyzeNested(body);
    w.text += src_.substr(start, pos_ - start);
    w.literal = false;
  }

  // $NAME ${...} $(...) $((...)) $'...' $"..." and the special parameters.
  void ReadDollar(ShellWord& w, bool in_double_quotes, bool* any_quote) {
    const size_t start = pos_;
    const char n = Peek(1);
    if (n == '(' && Peek(2) == '(') {
      SkipArithmetic(pos_ + 3);
      w.literal = false;
    } else if (n == '(') {
      pos_ += 2;
      ParseList(/*nested=*/true);
      w.literal = false;
    } else if (n == '{') {
      int depth = 0;
      size_t i = pos_ + 1;
      for (; i < src_.size(); ++i) {
        if (src_[i] == '{') ++depth;
        if (src_[i] == '}' && --depth == 0) break;
      }
      const std::string_view body = src_.substr(pos_, i - pos_);
      if (body.find("$(") != std::string_view::npos || body.find('`') != std::string_view::npos) {
        Doubt("a command substitution inside ${...} is not checked");
      }
      if (i >= src_.size()) Doubt("a `${` is not closed");
      pos_ = std::min(i + 1, src_.size());
      w.literal = false;
    } else if (n == '\'' && !in_double_quotes) {
      ReadAnsiC(w);
      if (any_quote != nullptr) *any_quote = true;
      return;
    } else if (n == '"' && !in_double_quotes) {
      ++pos_;
      ReadDoubleQuoted(w);
      if (any_quote != nullptr) *any_quote = true;
      return;
    } else if (IsNameStart(n)) {
      pos_ += 2;
      while (!AtEnd() && IsNameChar(Peek())) ++pos_;
      w.literal = false;
    } else if ((n >= '0' && n <= '9') ||
               std::string_view("@*#?$!-").find(n) != std::string_view::npos) {
      pos_ += 2;
      w.literal = false;
    } else {
      w.text += '$';  // a lone dollar sign is literal
      ++pos_;
      return;
    }
    w.text += src_.substr(start, pos_ - start);
  }

  // $'...' with the escapes whose meaning is plain; others (\x41, \101, \u...) make it a doubt.
  void ReadAnsiC(ShellWord& w) {
    size_t i = pos_ + 2;
    for (; i < src_.size() && src_[i] != '\''; ++i) {
      if (src_[i] != '\\' || i + 1 >= src_.size()) {
        w.text += src_[i];
        continue;
      }
      const char e = src_[++i];
      switch (e) {
        case 'n':
          w.text += '\n';
          break;
        case 't':
          w.text += '\t';
          break;
        case 'r':
          w.text += '\r';
          break;
        case '\\':
        case '\'':
        case '"':
        case '?':
          w.text += e;
          break;
        default:
          Doubt("a $'...' string uses escapes that are not checked");
          w.text += '\\';
          w.text += e;
          w.literal = false;
      }
    }
    if (i >= src_.size()) Doubt("a $'...' string is not closed");
    pos_ = std::min(i + 1, src_.size());
  }

  void AnalyzeNested(std::string_view script) {
    if (depth_ + 1 > kMaxDepth) {
      Doubt("the command nests too deeply to check");
      return;
    }
    Parser(script, out_, depth_ + 1).Run();
  }

  // Adds `cmd` (and whatever it runs, through wrappers) to the analysis.
  void Record(ShellCommand cmd, int wrap_depth) {
    const ShellWord& name = cmd.words[0];
    if (!name.literal) {
      Doubt("the command name `" + name.raw + "` is only known at run time");
    }
    const std::string_view base = CommandBaseName(name.text);
    const auto arg = [&](size_t i) -> const ShellWord* {
      return i < cmd.words.size() ? &cmd.words[i] : nullptr;
    };
    if (base == "eval") Doubt("`eval` runs a string as a command");
    if (base == "trap" && cmd.words.size() >= 3 && cmd.words[1].text != "-") {
      Doubt("`trap` runs a command later");
    }
    if (base == "alias") Doubt("`alias` changes what later commands mean");
    if (base == "enable") Doubt("`enable` changes what later commands mean");
    if (base == "hash" && std::any_of(cmd.words.begin(), cmd.words.end(),
                                      [](const ShellWord& w) { return w.text == "-p"; })) {
      Doubt("`hash -p` changes what later commands run");
    }
    if (base == "export" || base == "declare" || base == "typeset" || base == "local" ||
        base == "readonly") {
      for (size_t i = 1; i < cmd.words.size(); ++i) {
        const std::string name_part = cmd.words[i].text.substr(0, cmd.words[i].text.find('='));
        if (IsSensitiveVariable(name_part)) {
          Doubt("it sets " + name_part + ", which changes what later commands run");
        }
      }
    }
    if (base == "cd" || base == "pushd") {
      size_t i = 1;
      while (arg(i) != nullptr && arg(i)->text.size() > 1 && arg(i)->text[0] == '-') ++i;
      if (arg(i) == nullptr || !arg(i)->literal || arg(i)->text == "-") {
        out_.cd_unknown = true;
      } else {
        out_.cd_targets.push_back(arg(i)->text);
      }
    }
    if (base == "popd") out_.cd_unknown = true;

    WrappedCommands wrapped = UnwrapCommand(cmd.words);
    if (!wrapped.is_wrapper || !wrapped.transparent) out_.commands.push_back(cmd);
    if (!wrapped.is_wrapper) return;
    if (!wrapped.doubt.empty()) Doubt(wrapped.doubt);
    for (const std::string& a : wrapped.assignments) {
      const std::string var = a.substr(0, a.find('='));
      if (IsSensitiveVariable(var)) Doubt("it sets " + var + ", which changes what runs");
    }
    for (const ShellWord& script : wrapped.scripts) {
      if (!script.literal) {
        Doubt("`" + name.text + "` runs a script only known at run time");
      } else {
        AnalyzeNested(script.text);
      }
    }
    if (wrap_depth + 1 > kMaxDepth) {
      Doubt("the command nests too deeply to check");
      return;
    }
    for (auto& inner : wrapped.commands) {
      Record(ShellCommand{std::move(inner), {}}, wrap_depth + 1);
    }
  }

  std::string_view src_;
  ShellAnalysis& out_;
  int depth_;
  size_t pos_ = 0;
  int nesting_ = 0;
  std::vector<PendingHeredoc> heredocs_;
};

}  // namespace

std::string ShellCommand::Text() const {
  std::string out;
  for (const ShellWord& w : words) {
    if (!out.empty()) out += ' ';
    out += w.text;
  }
  return out;
}

ShellAnalysis AnalyzeShellCommand(std::string_view command) {
  ShellAnalysis out;
  Parser(command, out, 0).Run();
  return out;
}

}  // namespace dsagent
