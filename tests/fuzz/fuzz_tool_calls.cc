// Tool-call arguments as the model writes them (tools/registry.h Dispatch: JSON parsing, schema
// checks, then the tool), for the file tools that take paths and edits: read_file, write_file,
// edit_file, list_files, glob, grep. The first input byte picks the tool, the rest is the raw
// argument string. The workspace holds a few files and a symlink to a directory outside it.
// Invariants: never a crash or an escaped exception; the output is valid UTF-8; nothing outside the
// workspace is created or changed (hostile paths: "..", absolute paths, the symlink).
// bash and the git tools are left out: their arguments are commands, covered by fuzz_shell_syntax.
#include <filesystem>
#include <string>

#include "common/utf8.h"
#include "tests/fuzz/fuzz_target.h"
#include "tools/edit_file.h"
#include "tools/glob.h"
#include "tools/grep.h"
#include "tools/list_files.h"
#include "tools/read_file.h"
#include "tools/registry.h"
#include "tools/write_file.h"

namespace {
namespace fs = std::filesystem;

const char* const kTools[] = {"read_file", "write_file", "edit_file", "list_files", "glob", "grep"};

struct Box {
  fs::path root, workspace, outside;
  dsagent::ToolRegistry registry;
  dsagent::ToolContext ctx;
};

// The workspace as each input starts: small, so resetting it costs little.
void Reset(Box& box) {
  std::error_code ec;
  fs::remove_all(box.workspace, ec);
  fs::create_directories(box.workspace / "src");
  dsagent::fuzz::WriteBytes(box.workspace / "a.txt", "alpha\nbeta\ngamma\n");
  dsagent::fuzz::WriteBytes(box.workspace / "src/main.py", "def main():\n    return 1\n");
  fs::create_directory_symlink(box.outside, box.workspace / "link");
}

Box& TheBox() {
  static Box box = [] {
    Box b;
    static const dsagent::fuzz::ScratchPath scratch("tools");
    b.root = scratch.path();
    b.workspace = b.root / "ws";
    b.outside = b.root / "outside";
    fs::create_directories(b.outside);
    dsagent::fuzz::WriteBytes(b.outside / "secret.txt", "outside\n");
    b.registry.Add(dsagent::MakeReadFileTool());
    b.registry.Add(dsagent::MakeWriteFileTool());
    b.registry.Add(dsagent::MakeEditFileTool());
    b.registry.Add(dsagent::MakeListFilesTool());
    b.registry.Add(dsagent::MakeGlobTool());
    b.registry.Add(dsagent::MakeGrepTool());
    Reset(b);
    b.ctx.workspace = fs::canonical(b.workspace);
    return b;
  }();
  return box;
}

// Everything outside the workspace, as (path, size) lines: it must not change.
std::string Outside(const Box& box) {
  std::string s;
  for (const auto& e : fs::recursive_directory_iterator(box.root)) {
    const fs::path rel = fs::relative(e.path(), box.root);
    if (*rel.begin() == "ws") continue;
    s += rel.string() + (e.is_regular_file() ? ":" + std::to_string(e.file_size()) : "") + "\n";
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Box& box = TheBox();
  static const std::string before = Outside(box);
  const std::string tool = kTools[data[0] % std::size(kTools)];
  const std::string arguments(dsagent::fuzz::AsText(data + 1, size - 1));
  const auto result = box.registry.Dispatch(tool, arguments, box.ctx);
  FUZZ_CHECK(dsagent::SanitizeUtf8(result.output) == result.output, "tool output is not valid UTF-8");
  FUZZ_CHECK(Outside(box) == before, "a tool call changed something outside the workspace");
  Reset(box);
  return 0;
}
