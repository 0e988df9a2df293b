// The libedit LineReader (see line_reader.h). libedit keeps the terminal in its edit mode only
// inside el_wgets; the rest of the time the terminal is as the user had it.
#include <histedit.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <clocale>
#include <cstring>
#include <cwchar>
#include <map>
#include <system_error>

#include "agent/ui/line_reader.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;

constexpr const char* kPasteStart = "\033[200~";
constexpr const wchar_t* kPasteEnd = L"\033[201~";
constexpr const char* kBracketedPasteOn = "\033[?2004h";
constexpr const char* kBracketedPasteOff = "\033[?2004l";
constexpr char kPromptEscape = '\1';  // brackets non-printing prompt bytes (EL_PROMPT_ESC)

std::string ToUtf8(const std::wstring& w) {
  std::string out;
  std::mbstate_t state{};
  char buf[MB_LEN_MAX];
  for (wchar_t c : w) {
    const size_t n = std::wcrtomb(buf, c, &state);
    if (n != static_cast<size_t>(-1)) out.append(buf, n);
  }
  return out;
}

std::wstring FromUtf8(const std::string& s) {
  std::wstring out;
  std::mbstate_t state{};
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    wchar_t c;
    const size_t n = std::mbrtowc(&c, p, static_cast<size_t>(end - p), &state);
    if (n == 0 || n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2)) {
      ++p;  // skip a byte the locale cannot decode
      state = {};
      continue;
    }
    out.push_back(c);
    p += n;
  }
  return out;
}

// Non-printing SGR sequences in the prompt wrapped in kPromptEscape for libedit.
std::string MarkEscapes(const std::string& prompt) {
  std::string out;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] == '\033') {
      const size_t end = prompt.find('m', i);
      if (end != std::string::npos) {
        out += kPromptEscape + prompt.substr(i, end - i + 1) + kPromptEscape;
        i = end;
        continue;
      }
    }
    out.push_back(prompt[i]);
  }
  return out;
}

void UseUtf8Locale() {
  const char* got = std::setlocale(LC_CTYPE, "");
  if (got == nullptr ||
      (std::strstr(got, "UTF-8") == nullptr && std::strstr(got, "utf8") == nullptr)) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
  }
}

class TerminalLineReader : public LineReader {
 public:
  TerminalLineReader(std::FILE* in, std::FILE* out, fs::path history_file)
      : in_fd_(::fileno(in)), out_(out), history_file_(std::move(history_file)) {
    UseUtf8Locale();
    el_ = el_init("dsagent", in, out, stderr);
    history_ = history_init();
    HistEvent ev;
    history(history_, &ev, H_SETSIZE, 1000);
    history(history_, &ev, H_SETUNIQUE, 1);
    if (!history_file_.empty()) {
      std::error_code ec;
      fs::create_directories(history_file_.parent_path(), ec);
      history(history_, &ev, H_LOAD, history_file_.c_str());
    }
    el_set(el_, EL_EDITOR, "emacs");
    el_set(el_, EL_HIST, history, history_);
    el_set(el_, EL_CLIENTDATA, this);
    el_set(el_, EL_PROMPT_ESC, &TerminalLineReader::PromptFn, kPromptEscape);
    // Ctrl-C reaches us as a key, not as SIGINT, while editing (the terminal's own mode is
    // restored between reads, so Ctrl-C during a step still signals).
    el_set(el_, EL_SETTY, "-d", "-isig", nullptr);
    // Functions are added through el_wset with static wide strings: libedit keeps the pointers.
    // el_set's narrow EL_ADDFN converts the two strings to wcsdup'ed copies that nothing frees
    // ("XXX: The two strdup's leak" in libedit's eln.c; LeakSanitizer reports them).
    el_wset(el_, EL_ADDFN, L"dsagent-interrupt", L"Discard the line (Ctrl-C)", &InterruptFn);
    el_set(el_, EL_BIND, "^C", "dsagent-interrupt", nullptr);
    el_set(el_, EL_GETCFN, &ReadCharFn);
    el_wset(el_, EL_ADDFN, L"dsagent-paste", L"Insert a bracketed paste", &PasteFn);
    el_set(el_, EL_BIND, kPasteStart, "dsagent-paste", nullptr);
    el_source(el_, nullptr);  // the user's ~/.editrc, if any
  }

  ~TerminalLineReader() override {
    el_end(el_);
    history_end(history_);
  }

  InputEvent ReadLine(const std::string& prompt, const std::string& initial) override {
    prompt_ = MarkEscapes(prompt);
    interrupted_ = false;
    // libedit prints the prompt before it switches the terminal to its edit mode, so a key typed
    // right after the prompt appears could still be taken in cooked mode (Ctrl-D as end of file,
    // Ctrl-C as a signal). Leaving cooked mode first closes that window; libedit ignores settings
    // that are not cooked and uses its own, and the user's settings come back afterwards.
    termios saved{};
    const bool have_tty = ::tcgetattr(in_fd_, &saved) == 0;
    if (have_tty) {
      termios raw = saved;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      ::tcsetattr(in_fd_, TCSANOW, &raw);
    }
    if (interrupt_.IsCancelled()) {  // Ctrl-C came as a signal while the terminal was cooked
      if (have_tty) ::tcsetattr(in_fd_, TCSADRAIN, &saved);
      return {InputEvent::Kind::kInterrupt, ""};
    }
    el_resize(el_);
    if (!initial.empty()) el_push(el_, initial.c_str());
    std::fputs(kBracketedPasteOn, out_);
    std::fflush(out_);
    int count = 0;
    const wchar_t* line = el_wgets(el_, &count);
    std::fputs(kBracketedPasteOff, out_);
    std::fflush(out_);
    if (have_tty) ::tcsetattr(in_fd_, TCSADRAIN, &saved);
    if (interrupted_) return {InputEvent::Kind::kInterrupt, ""};
    if (line == nullptr || count <= 0) {
      std::fputc('\n', out_);  // Ctrl-D leaves the cursor after the prompt
      std::fflush(out_);
      return {InputEvent::Kind::kEof, ""};
    }
    std::string text = ToUtf8(std::wstring(line, static_cast<size_t>(count)));
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return {InputEvent::Kind::kLine, ExpandPastes(text)};
  }

  void AddHistory(const std::string& entry) override {
    if (entry.empty()) return;
    HistEvent ev;
    history(history_, &ev, H_ENTER, entry.c_str());
    if (!history_file_.empty()) history(history_, &ev, H_SAVE, history_file_.c_str());
  }

 private:
  static TerminalLineReader* Self(EditLine* el) {
    void* self = nullptr;
    el_get(el, EL_CLIENTDATA, &self);
    return static_cast<TerminalLineReader*>(self);
  }

  static char* PromptFn(EditLine* el) { return Self(el)->prompt_.data(); }

  // Marks the read as interrupted, shows "^C" at the end of the line and ends the read the way
  // Enter does (so libedit moves below the line and resets its state).
  static unsigned char InterruptFn(EditLine* el, int) {
    Self(el)->interrupted_ = true;
    const LineInfoW* li = el_wline(el);
    el_cursor(el, static_cast<int>(li->lastchar - li->cursor));
    el_winsertstr(el, L"^C");
    el_push(el, "\n");
    return CC_REFRESH;
  }

  // libedit's character source. Its own retries a read that a signal interrupted, so a SIGTERM
  // (or a Ctrl-C signalled by another path) would leave the prompt waiting for a key; this one
  // waits in poll() and ends the read as an interruption as soon as the interrupt token is
  // cancelled. The timeout only bounds the case of a signal landing just before poll().
  static int ReadCharFn(EditLine* el, wchar_t* out) {
    TerminalLineReader* self = Self(el);
    char bytes[MB_LEN_MAX];
    size_t have = 0;
    while (true) {
      if (self->interrupt_.IsCancelled()) {
        self->interrupted_ = true;
        return 0;  // ends el_wgets; ReadLine reports kInterrupt
      }
      pollfd p{self->in_fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) return -1;
      if (ready <= 0) continue;
      const ssize_t got = ::read(self->in_fd_, bytes + have, 1);
      if (got == 0) return 0;
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return -1;
      }
      have += 1;
      std::mbstate_t state{};
      const size_t n = std::mbrtowc(out, bytes, have, &state);
      if (n == static_cast<size_t>(-2) && have < sizeof bytes) continue;  // more bytes to come
      if (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2)) {
        *out = static_cast<unsigned char>(bytes[0]);  // not UTF-8: pass the byte through
      }
      return 1;
    }
  }

  // Reads up to the end-of-paste marker and inserts the block; newlines stay newlines.
  static unsigned char PasteFn(EditLine* el, int) {
    TerminalLineReader* self = Self(el);
    std::wstring block;
    const size_t end_len = std::wcslen(kPasteEnd);
    while (true) {
      wchar_t c;
      if (el_wgetc(el, &c) != 1) break;
      block.push_back(c);
      if (block.size() >= end_len &&
          block.compare(block.size() - end_len, end_len, kPasteEnd) == 0) {
        block.resize(block.size() - end_len);
        break;
      }
    }
    // Terminals send Enter as CR inside a paste.
    std::wstring text;
    for (size_t i = 0; i < block.size(); ++i) {
      if (block[i] == L'\r') {
        text.push_back(L'\n');
        if (i + 1 < block.size() && block[i + 1] == L'\n') ++i;
      } else {
        text.push_back(block[i]);
      }
    }
    size_t lines = 1;
    for (wchar_t c : text) lines += c == L'\n';
    if (lines > kMaxInlinePasteLines) {
      const std::string tag = "[pasted text #" + std::to_string(self->pastes_.size() + 1) + ": " +
                              std::to_string(lines) + " lines]";
      self->pastes_[tag] = ToUtf8(text);
      text = FromUtf8(tag);
    }
    el_winsertstr(el, text.c_str());
    return CC_REFRESH;
  }

  std::string ExpandPastes(std::string text) const {
    for (const auto& [tag, content] : pastes_) {
      for (size_t at = text.find(tag); at != std::string::npos; at = text.find(tag, at)) {
        text.replace(at, tag.size(), content);
        at += content.size();
      }
    }
    return text;
  }

  int in_fd_;
  EditLine* el_ = nullptr;
  History* history_ = nullptr;
  std::FILE* out_;
  fs::path history_file_;
  std::string prompt_;
  bool interrupted_ = false;
  std::map<std::string, std::string> pastes_;  // placeholder -> pasted text, for this process
};

}  // namespace

std::unique_ptr<LineReader> MakeTerminalLineReader(std::FILE* in, std::FILE* out,
                                                   const fs::path& history_file) {
  return std::make_unique<TerminalLineReader>(in, out, history_file);
}

}  // namespace dsagent
