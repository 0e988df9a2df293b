#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/cli/device_option.h"

namespace dsagent {
namespace {
using ::testing::MatchesRegex;

// What the printer writes when told of each of `total` blocks in turn, through a memory stream (not
// a terminal: a service's log).
std::vector<std::string> PrintedLines(int64_t total) {
  char* data = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&data, &size);
  {
    const auto progress = UploadProgressPrinter("serve", out);
    for (int64_t done = 0; done <= total; ++done) progress(done, total);  // as UploadModel tells
  }
  std::fclose(out);
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      lines.push_back(line);
      line.clear();
    } else {
      line += data[i];
    }
  }
  std::free(data);
  EXPECT_EQ(line, "") << "the last line ends with a newline";
  return lines;
}

// Off a terminal, a line at each quarter of the blocks and one at the end with the time taken.
TEST(UploadProgressPrinterTest, OffATerminalALineAtEachQuarterAndTheTimeAtTheEnd) {
  const std::vector<std::string> lines = PrintedLines(45);  // V4-Flash: 43 layers, head, MTP
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "dsagent serve: weights to the GPU: 12 of 45 blocks");
  EXPECT_EQ(lines[1], "dsagent serve: weights to the GPU: 23 of 45 blocks");
  EXPECT_EQ(lines[2], "dsagent serve: weights to the GPU: 34 of 45 blocks");
  EXPECT_THAT(lines[3], MatchesRegex("dsagent serve: weights to the GPU: all 45 blocks in "
                                     "[0-9]+\\.[0-9] s"));
  // A model of one block: the end line alone.
  const std::vector<std::string> one = PrintedLines(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_THAT(one[0], MatchesRegex(".*all 1 blocks in [0-9]+\\.[0-9] s"));
}

}  // namespace
}  // namespace dsagent
