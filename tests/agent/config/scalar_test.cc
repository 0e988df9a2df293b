#include "agent/config/scalar.h"

#include <gtest/gtest.h>

#include <limits>

namespace dsagent {
namespace {
using namespace std::chrono;  // NOLINT

TEST(ScalarTest, ParseInt64IsStrict) {
  EXPECT_EQ(ParseInt64("42"), 42);
  EXPECT_EQ(ParseInt64("-7"), -7);
  EXPECT_EQ(ParseInt64("9223372036854775807"), std::numeric_limits<int64_t>::max());
  for (const char* bad : {"", "abc", "12abc", " 1", "1 ", "1.5", "9223372036854775808", "0x10"}) {
    EXPECT_EQ(ParseInt64(bad), std::nullopt) << bad;
  }
}

TEST(ScalarTest, ParseFiniteDoubleRejectsJunkAndNonFinite) {
  EXPECT_DOUBLE_EQ(*ParseFiniteDouble("0.0028"), 0.0028);
  EXPECT_DOUBLE_EQ(*ParseFiniteDouble("5"), 5.0);
  EXPECT_DOUBLE_EQ(*ParseFiniteDouble("1e-3"), 0.001);
  for (const char* bad : {"", "nan", "inf", "-inf", "1e999", "1.2.3", "$5", "5 "}) {
    EXPECT_EQ(ParseFiniteDouble(bad), std::nullopt) << bad;
  }
}

TEST(ScalarTest, ParseBoolSpellings) {
  for (const char* t : {"true", "True", "ON", "yes", "1"}) EXPECT_EQ(ParseBool(t), true) << t;
  for (const char* f : {"false", "OFF", "No", "0"}) EXPECT_EQ(ParseBool(f), false) << f;
  for (const char* bad : {"", "y", "2", "truthy", "enabled"}) {
    EXPECT_EQ(ParseBool(bad), std::nullopt) << bad;
  }
}

TEST(ScalarTest, ParseUtcTimestampForms) {
  const sys_seconds expected = sys_days(2026y / April / 26) + 12h + 15min;
  EXPECT_EQ(ParseUtcTimestamp("2026-04-26T12:15:00Z"), expected);
  EXPECT_EQ(ParseUtcTimestamp("2026-04-26T12:15Z"), expected);
  EXPECT_EQ(ParseUtcTimestamp("2026-04-26T12:15:00+00:00"), expected);
  EXPECT_EQ(ParseUtcTimestamp("2026-04-26"), sys_seconds(sys_days(2026y / April / 26)));
  EXPECT_EQ(ParseUtcTimestamp("2028-02-29T23:59:59Z"),
            sys_days(2028y / February / 29) + 23h + 59min + 59s);
  for (const char* bad : {"", "2026-4-26", "2026-04-26T", "2026-04-26T12:15:00",
                          "2026-04-26T12:15:00+01:00", "2027-02-29", "2026-13-01",
                          "2026-04-26T12:60:00Z", "2026-04-26T12:15:00ZZ", "2026-04-26 12:15Z"}) {
    EXPECT_EQ(ParseUtcTimestamp(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace dsagent
