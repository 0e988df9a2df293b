#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(ByteSizeTest, PlainNumbersAndBinaryUnits) {
  EXPECT_EQ(ParseByteSize("0"), 0);
  EXPECT_EQ(ParseByteSize("1000000"), 1000000);
  EXPECT_EQ(ParseByteSize("512M"), int64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("8G"), int64_t{8} << 30);
  EXPECT_EQ(ParseByteSize("8GiB"), int64_t{8} << 30);
  EXPECT_EQ(ParseByteSize("8gb"), int64_t{8} << 30);
  EXPECT_EQ(ParseByteSize("2T"), int64_t{2} << 40);
  EXPECT_EQ(ParseByteSize("64k"), 64 * 1024);
}

TEST(ByteSizeTest, AnythingElseIsRejected) {
  for (const char* bad : {"", "-1", "G", "8X", "8GG", " 8G", "1.5G", "99999999999T"}) {
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace dsagent
