#include "agent/cli/command_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dsagent {
namespace {

// A small app with the table's shapes: leaves under a parent, a default, a cancellable action.
class CommandTableTest : public ::testing::Test {
 protected:
  CommandTableTest() {
    auto* chat = app_.add_subcommand("chat", "default");
    auto* session = app_.add_subcommand("session", "parent");
    auto* list = session->add_subcommand("list", "leaf");
    auto* show = session->add_subcommand("show", "leaf");
    show->add_option("id", id_);
    auto* serve = app_.add_subcommand("serve", "cancellable");
    table_.Bind(chat, [this] { return Ran("chat", 0); });
    table_.SetDefault(chat);
    table_.Bind(list, [this] { return Ran("session list", 0); });
    table_.Bind(show, [this] { return Ran("session show " + id_, 4); });
    table_.BindCancellable(serve, [this](const CancelToken& cancel) {
      return Ran(cancel.IsCancelled() ? "serve (cancelled)" : "serve", 5);
    });
  }

  int Parse(std::vector<std::string> args) {
    std::vector<const char*> argv = {"prog"};
    for (const auto& a : args) argv.push_back(a.c_str());
    app_.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    return table_.Run();
  }
  int Ran(const std::string& what, int code) {
    ran_.push_back(what);
    return code;
  }

  CLI::App app_{"test"};
  CommandTable table_;
  std::string id_;
  std::vector<std::string> ran_;
};

TEST_F(CommandTableTest, RunsTheGivenLeaf) {
  EXPECT_EQ(Parse({"session", "show", "abc"}), 4);
  EXPECT_EQ(ran_, std::vector<std::string>{"session show abc"});
}

TEST_F(CommandTableTest, RunsTheDefaultWhenNoSubcommandIsGiven) {
  EXPECT_EQ(Parse({}), 0);
  EXPECT_EQ(ran_, std::vector<std::string>{"chat"});
}

TEST_F(CommandTableTest, ACancellableActionGetsAFreshToken) {
  EXPECT_EQ(Parse({"serve"}), 5);
  EXPECT_EQ(ran_, std::vector<std::string>{"serve"});
}

}  // namespace
}  // namespace dsagent
