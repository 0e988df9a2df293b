#include "agent/cli/progress_printer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tools/tool_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

// What the printer writes for `result`, through a memory stream.
std::string Printed(const ToolResult& result) {
  char* data = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&data, &size);
  {
    ProgressPrinter printer(out, false);
    printer.OnToolResult({"c1", "bash", "{}"}, result);
  }
  std::fclose(out);
  std::string text(data, size);
  std::free(data);
  return text;
}

TEST(ProgressPrinterTest, AToolErrorIsLabelledOnce) {
  const std::string text = Printed(ErrorResult("working directory /gone does not exist"));
  EXPECT_EQ(text, "     error: working directory /gone does not exist\n");
}

TEST(ProgressPrinterTest, ASuccessShowsItsFirstLine) {
  ToolResult ok;
  ok.output = "first\nsecond\n";
  EXPECT_THAT(Printed(ok), HasSubstr("ok: first\n"));
}

}  // namespace
}  // namespace dsagent
