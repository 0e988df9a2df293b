// The plain (pipe) reader and multi-line messages; the libedit reader is covered end to end by
// chat_pty_test.cc.
#include "agent/ui/line_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "tests/agent/ui/ui_test_util.h"

namespace dsagent::testing {
namespace {

// A plain reader over a pipe holding `input`.
class PipeInput {
 public:
  explicit PipeInput(const std::string& input) {
    if (pipe(fds_) != 0) std::abort();
    if (write(fds_[1], input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
      std::abort();
    }
    close(fds_[1]);
    reader_ = MakePlainLineReader(fds_[0], stdout, /*show_prompt=*/false);
  }
  ~PipeInput() { close(fds_[0]); }
  LineReader& reader() { return *reader_; }

 private:
  int fds_[2];
  std::unique_ptr<LineReader> reader_;
};

TEST(LineReaderTest, PlainReaderReadsLinesThenEof) {
  PipeInput in("one\r\ntwo\nlast without newline");
  EXPECT_EQ(in.reader().ReadLine("> ").text, "one");
  EXPECT_EQ(in.reader().ReadLine("> ").text, "two");
  const InputEvent last = in.reader().ReadLine("> ");
  EXPECT_EQ(last.kind, InputEvent::Kind::kLine);
  EXPECT_EQ(last.text, "last without newline");
  EXPECT_EQ(in.reader().ReadLine("> ").kind, InputEvent::Kind::kEof);
}

TEST(LineReaderTest, TrailingBackslashContinuesTheMessage) {
  PipeInput in("first\\\nsecond\\\nthird\nnext\n");
  const InputEvent m = ReadMessage(in.reader(), "> ", ". ");
  EXPECT_EQ(m.kind, InputEvent::Kind::kLine);
  EXPECT_EQ(m.text, "first\nsecond\nthird");
  EXPECT_EQ(ReadMessage(in.reader(), "> ", ". ").text, "next");
}

TEST(LineReaderTest, InterruptDuringAContinuationDropsTheMessage) {
  ScriptedReader reader({ScriptedReader::Line("half\\"), ScriptedReader::Interrupt()});
  EXPECT_EQ(ReadMessage(reader, "> ", ". ").kind, InputEvent::Kind::kInterrupt);
  ASSERT_EQ(reader.prompts.size(), 2u);
  EXPECT_EQ(reader.prompts[1], ". ");
}

}  // namespace
}  // namespace dsagent::testing
