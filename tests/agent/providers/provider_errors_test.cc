#include "agent/providers/provider_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dsagent {
namespace {

TEST(ProviderErrorsTest, ServerMessageFromEitherErrorShape) {
  EXPECT_EQ(ServerErrorMessage(R"({"error":{"message":"Insufficient Balance","type":"x"}})"),
            "Insufficient Balance");
  EXPECT_EQ(ServerErrorMessage(
                R"({"type":"error","error":{"type":"overloaded_error","message":"Busy"}})"),
            "Busy");
  EXPECT_EQ(ServerErrorMessage("<html>502 Bad Gateway</html>\n"), "<html>502 Bad Gateway</html> ");
  EXPECT_EQ(ServerErrorMessage(""), "");
}

TEST(ProviderErrorsTest, LongBodiesAreCutOnACharacterBoundary) {
  std::string body(498, 'a');
  body += "\xE4\xB8\xAD\xE4\xB8\xAD";  // multi-byte characters straddling the 500-byte cut
  const std::string m = ServerErrorMessage(body);
  EXPECT_EQ(m, std::string(498, 'a') + "...");
}

TEST(ProviderErrorsTest, RedactsEveryOccurrenceOfTheSecret) {
  EXPECT_EQ(RedactSecret("key sk-123 and sk-123 again", "sk-123"), "key **** and **** again");
  EXPECT_EQ(RedactSecret("nothing here", ""), "nothing here");
}

TEST(ProviderErrorsTest, RecognisesBothReasoningContentErrors) {
  EXPECT_TRUE(AsksForReasoningContent(
      400, "The `reasoning_content` in the thinking mode must be passed back to the API."));
  EXPECT_TRUE(AsksForReasoningContent(
      400, "Missing `reasoning_content` field in the assistant message at message index 2"));
  EXPECT_FALSE(AsksForReasoningContent(400, "max_tokens too large"));
  EXPECT_FALSE(AsksForReasoningContent(422, "reasoning_content"));
}

}  // namespace
}  // namespace dsagent
