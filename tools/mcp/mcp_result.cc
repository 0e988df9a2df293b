#include "tools/mcp/mcp_result.h"

#include "common/utf8.h"
#include "tools/head_tail_buffer.h"

namespace dsagent {
namespace {

// Size of base64 data once decoded, for placeholders.
size_t DecodedSize(const std::string& base64) {
  size_t n = base64.size() / 4 * 3;
  if (!base64.empty() && base64.back() == '=') --n;
  if (base64.size() > 1 && base64[base64.size() - 2] == '=') --n;
  return n;
}

std::string Placeholder(const std::string& what, const Json& block, const std::string& data_key) {
  const std::string mime = StringField(block, "mimeType", "unknown type");
  return "[" + what + ": " + mime + ", " +
         std::to_string(DecodedSize(StringField(block, data_key.c_str()))) +
         " bytes, not shown: dsagent passes only text to the model]";
}

// The text of one content block, or its placeholder.
std::string BlockText(const Json& block) {
  const std::string type = StringField(block, "type");
  if (type == "text") return StringField(block, "text");
  if (type == "image") return Placeholder("image", block, "data");
  if (type == "audio") return Placeholder("audio", block, "data");
  if (type == "resource_link") {
    const std::string name = StringField(block, "name");
    return "[resource link: " + StringField(block, "uri") +
           (name.empty() ? "" : " (" + name + ")") + "]";
  }
  if (type == "resource") {
    const Json resource = block.value("resource", Json::object());
    if (resource.is_object() && resource.contains("text")) {
      return "[resource " + StringField(resource, "uri") + "]\n" + StringField(resource, "text");
    }
    return "[resource " + StringField(resource, "uri") + ": " +
           StringField(resource, "mimeType", "unknown type") +
           ", binary, not shown: dsagent passes only text to the model]";
  }
  return "[content of type '" + type + "' not shown]";
}

}  // namespace

ToolResult McpResultToToolResult(const Json& result, size_t cap_bytes) {
  ToolResult out;
  const bool is_error = result.is_object() && result.value("isError", false) == true;
  out.ok = !is_error;
  out.details["is_error"] = is_error;
  HeadTailBuffer text(cap_bytes);
  bool any_text = false;
  Json types = Json::array();
  const Json content = result.is_object() ? result.value("content", Json::array()) : Json();
  if (content.is_array()) {
    for (const Json& block : content) {
      if (!block.is_object()) continue;
      types.push_back(StringField(block, "type"));
      any_text = any_text || StringField(block, "type") == "text";
      if (text.total_bytes() > 0) text.Append("\n");
      text.Append(BlockText(block));
    }
  }
  out.details["content_types"] = types;
  if (result.is_object() && result.contains("structuredContent")) {
    const Json& structured = result["structuredContent"];
    out.details["structured"] = structured;
    // Servers should repeat structured content as text; when one does not, the model still needs
    // it.
    if (!any_text) {
      if (text.total_bytes() > 0) text.Append("\n");
      text.Append(CanonicalJson(structured));
    }
  }
  out.output = SanitizeUtf8(text.Finish());
  if (out.output.empty()) out.output = is_error ? "Error: the tool failed" : "(no output)";
  if (is_error && out.output.rfind("Error: ", 0) != 0) out.output = "Error: " + out.output;
  return out;
}

}  // namespace dsagent
