#include "common/name_table.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

enum class Colour { kRed, kGreen, kBlue, kUnnamed };
constexpr EnumName<Colour> kColourNames[] = {
    {Colour::kRed, "red"}, {Colour::kGreen, "green"}, {Colour::kBlue, "blue"}};

TEST(NameTableTest, NamesAndValuesRoundTrip) {
  for (const auto& e : kColourNames) {
    EXPECT_EQ(NameOf(kColourNames, e.value), e.name);
    EXPECT_EQ(ValueNamed(kColourNames, e.name), e.value);
  }
  static_assert(NameOf(kColourNames, Colour::kGreen) == "green");  // usable at compile time
}

TEST(NameTableTest, UnknownNamesAndValues) {
  EXPECT_EQ(ValueNamed(kColourNames, "Red"), std::nullopt);  // exact match only
  EXPECT_EQ(ValueNamed(kColourNames, ""), std::nullopt);
  EXPECT_EQ(NameOf(kColourNames, Colour::kUnnamed), "");
  EXPECT_EQ(NameOf(kColourNames, Colour::kUnnamed).data()[0], '\0');  // still a C string
}

}  // namespace
}  // namespace dsagent
