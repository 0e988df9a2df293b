#include "agent/ui/line_reader.h"

#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/xdg.h"

namespace dsagent {
namespace {

class PlainLineReader : public LineReader {
 public:
  PlainLineReader(int fd, std::FILE* out, bool show_prompt)
      : fd_(fd), out_(out), show_prompt_(show_prompt) {}

  InputEvent ReadLine(const std::string& prompt, const std::string&) override {
    if (show_prompt_) {
      std::fputs(prompt.c_str(), out_);
      std::fflush(out_);
    }
    while (true) {
      if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return {InputEvent::Kind::kLine, std::move(line)};
      }
      if (eof_) {
        if (buffer_.empty()) return {InputEvent::Kind::kEof, ""};
        return {InputEvent::Kind::kLine, std::exchange(buffer_, "")};
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) return {InputEvent::Kind::kInterrupt, ""};
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::FILE* out_;
  bool show_prompt_;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace

std::unique_ptr<LineReader> MakePlainLineReader(int fd, std::FILE* out, bool show_prompt) {
  return std::make_unique<PlainLineReader>(fd, out, show_prompt);
}

InputEvent ReadMessage(LineReader& reader, const std::string& prompt,
                       const std::string& continuation_prompt) {
  InputEvent first = reader.ReadLine(prompt);
  if (first.kind != InputEvent::Kind::kLine) return first;
  std::string text = std::move(first.text);
  while (!text.empty() && text.back() == '\\') {
    text.pop_back();
    InputEvent next = reader.ReadLine(continuation_prompt);
    if (next.kind == InputEvent::Kind::kInterrupt) return next;
    if (next.kind == InputEvent::Kind::kEof) break;
    text += "\n" + next.text;
  }
  return {InputEvent::Kind::kLine, std::move(text)};
}

std::filesystem::path DefaultHistoryFile() { return XdgStateHome() / "dsagent" / "history"; }

}  // namespace dsagent
