#include "tools/redactor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dsagent {
namespace {
using ::testing::ElementsAre;

TEST(RedactorTest, ReplacesEveryOccurrenceWithTheName) {
  Redactor r;
  r.Add("DEEPSEEK_API_KEY", "sk-0123456789abcdef");
  EXPECT_EQ(r.Redact("key=sk-0123456789abcdef\nagain sk-0123456789abcdef."),
            "key=[REDACTED:DEEPSEEK_API_KEY]\nagain [REDACTED:DEEPSEEK_API_KEY].");
  EXPECT_EQ(r.Redact("nothing here"), "nothing here");
  EXPECT_EQ(r.Redact(""), "");
}

TEST(RedactorTest, IgnoresShortValuesAndKeepsTheFirstNameOfAValue) {
  Redactor r;
  r.Add("SHORT_TOKEN", "1234567");  // below kMinSecretBytes
  r.Add("GITHUB_TOKEN", "ghp_abcdefgh");
  r.Add("providers.deepseek.api_key", "ghp_abcdefgh");
  EXPECT_EQ(r.Redact("1234567 ghp_abcdefgh"), "1234567 [REDACTED:GITHUB_TOKEN]");
  EXPECT_THAT(r.names(), ElementsAre("GITHUB_TOKEN"));
  EXPECT_FALSE(r.empty());
  EXPECT_TRUE(Redactor().empty());
}

TEST(RedactorTest, LongestValueWinsWhereValuesOverlap) {
  Redactor r;
  r.Add("INNER", "abcdefgh");
  r.Add("OUTER", "xx-abcdefgh-yy");
  EXPECT_EQ(r.Redact("xx-abcdefgh-yy abcdefgh"), "[REDACTED:OUTER] [REDACTED:INNER]");
  EXPECT_THAT(r.names(), ElementsAre("OUTER", "INNER"));
}

// The same text always redacts to the same bytes (the trace and every request carry it).
TEST(RedactorTest, IsDeterministicAndNeverRescansItsOutput) {
  Redactor r;
  r.Add("A_SECRET", "REDACTED:A_SECRET");  // a value that looks like the marker
  const std::string once = r.Redact("v=REDACTED:A_SECRET");
  EXPECT_EQ(once, "v=[REDACTED:A_SECRET]");
  EXPECT_EQ(r.Redact("v=REDACTED:A_SECRET"), once);
}

}  // namespace
}  // namespace dsagent
