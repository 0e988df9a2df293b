#include "tools/head_tail_buffer.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(HeadTailBufferTest, SmallOutputIsKeptWhole) {
  HeadTailBuffer b(100);
  b.Append("hello ");
  b.Append("world\n");
  EXPECT_FALSE(b.truncated());
  EXPECT_EQ(b.Finish(), "hello world\n");
}

TEST(HeadTailBufferTest, ExactlyAtTheCapIsNotTruncated) {
  HeadTailBuffer b(10);
  b.Append("0123456789");
  EXPECT_EQ(b.Finish(), "0123456789");
}

TEST(HeadTailBufferTest, KeepsHeadAndTailAroundAMarker) {
  HeadTailBuffer b(10);
  for (char c = 'a'; c <= 'z'; ++c) b.Append(std::string(1, c));  // many small appends
  EXPECT_EQ(b.total_bytes(), 26u);
  EXPECT_EQ(b.Finish(), "abcde\n[... 16 bytes omitted ...]\nvwxyz");
}

TEST(HeadTailBufferTest, OneLargeAppend) {
  HeadTailBuffer b(4);
  b.Append("line1\nline2\nline3\n");
  EXPECT_EQ(b.Finish(), "li\n[... 14 bytes omitted ...]\n3\n");
}

TEST(HeadTailBufferTest, CutsOnUtf8Boundaries) {
  HeadTailBuffer b(6);
  b.Append("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");  // five 2-byte characters, 10 bytes
  // Head and tail get 3 bytes each: one character and half of the next; the halves are dropped.
  EXPECT_EQ(b.Finish(), "\xC3\xA9\n[... 6 bytes omitted ...]\n\xC3\xA9");
}

}  // namespace
}  // namespace dsagent
