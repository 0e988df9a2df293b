#include "agent/providers/provider_errors.h"

#include "agent/providers/json_fields.h"
#include "common/json.h"
#include "common/utf8.h"

namespace dsagent {

std::string ServerErrorMessage(std::string_view body) {
  std::string message;
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    const Json& err = FieldOrNull(j, "error");
    if (auto m = OptionalString(err, "message")) {
      message = *m;
    } else if (err.is_string()) {
      message = err.get<std::string>();
    } else if (auto top = OptionalString(j, "message")) {
      message = *top;
    }
  }
  if (message.empty()) message = std::string(body);
  for (char& c : message) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  constexpr size_t kMaxBytes = 500;
  if (message.size() > kMaxBytes) {
    message.resize(Utf8SafePrefixLength(message, kMaxBytes));
    message += "...";
  }
  return SanitizeUtf8(message);
}

std::string ServerErrorCode(std::string_view body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "";
  return OptionalString(FieldOrNull(j, "error"), "code").value_or("");
}

std::string RedactSecret(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 4)) {
    text.replace(pos, secret.size(), "****");
  }
  return text;
}

bool AsksForReasoningContent(int http_status, std::string_view server_message) {
  return http_status == 400 && server_message.find("reasoning_content") != std::string_view::npos;
}

}  // namespace dsagent
