// Constrained decoding on the tiny random-weight model and its tokenizer: tool_choice required /
// named gives a well-formed DSML tool call the parser reads (JSON arguments, the schema's names
// and values), `none` keeps DSML out, and a thinking budget closes the think block in time.
#include <gtest/gtest.h>

#include <optional>

#include "engine/chat/chat_encoding.h"
#include "engine/generate/chat_completion.h"
#include "tests/engine/generate/tiny_model.h"

namespace dsagent::engine {
namespace {
using testing::TinySequenceModel;
using testing::TinyTokenizer;

const OrderedJson kConstrainedTools = OrderedJson::parse(R"([
  {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object",
     "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
  {"type": "function", "function": {"name": "set_mode", "parameters": {"type": "object",
     "properties": {"on": {"type": "boolean"}, "level": {"enum": ["low", "high"]}},
     "required": ["on", "level"]}}}])");

ChatRequest ToolRequest(ToolChoice::Mode mode, const std::string& name = "") {
  ChatRequest r;
  r.messages = OrderedJson::parse(R"([{"role": "user", "content": "Switch it on."}])");
  r.tools = kConstrainedTools;
  r.thinking = false;
  r.tool_choice = {mode, name};
  r.parallel_tool_calls = false;
  r.generate.max_tokens = 400;
  r.generate.context_limit = 4096;
  return r;
}

TEST(ConstrainedChatTest, NamedToolGivesAWellFormedCallWithSchemaValues) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  auto r = chat.Complete(ToolRequest(ToolChoice::Mode::kNamed, "set_mode"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->parse_error.empty()) << r->parse_error << "\n" << r->generation.text;
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_FALSE(r->tool_call_incomplete);
  EXPECT_EQ(r->message.content, "");
  ASSERT_EQ(r->message.tool_calls.size(), 1u);
  EXPECT_EQ(r->message.tool_calls[0].name, "set_mode");
  const Json args = Json::parse(r->message.tool_calls[0].arguments);
  ASSERT_TRUE(args.is_object());
  ASSERT_TRUE(args.contains("on"));
  EXPECT_TRUE(args["on"].is_boolean());
  ASSERT_TRUE(args.contains("level"));
  EXPECT_TRUE(args["level"] == "low" || args["level"] == "high") << args.dump();
  EXPECT_EQ(
      r->generation.text.rfind("\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"set_mode\">", 0),
      0u)
      << r->generation.text;
}

TEST(ConstrainedChatTest, SampledCallsStayWellFormed) {
  InMemoryPrefixCache cache;  // the seeds share the prompt's prefill
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), &cache);
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    ChatRequest req = ToolRequest(ToolChoice::Mode::kNamed, "set_mode");
    req.generate.sampling = {.temperature = 1.0, .seed = seed};
    auto r = chat.Complete(req);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->message.tool_calls.size(), 1u) << "seed " << seed << ": " << r->generation.text;
    EXPECT_TRUE(Json::parse(r->message.tool_calls[0].arguments)["on"].is_boolean());
  }
}

TEST(ConstrainedChatTest, RequiredCutByMaxTokensIsIncompleteNotAnAnswer) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  ChatRequest req = ToolRequest(ToolChoice::Mode::kRequired);
  req.generate.max_tokens = 6;
  req.generate.stop = {"\n"};  // stop strings do not cut a required call
  auto r = chat.Complete(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->finish_reason, "length");
  EXPECT_TRUE(r->tool_call_incomplete);
  EXPECT_TRUE(r->message.tool_calls.empty());
  EXPECT_EQ(r->message.content, "");
  EXPECT_EQ(r->generation.tokens.size(), 6u);
  EXPECT_EQ(r->generation.text.rfind("\n\n<｜DSML｜", 0), 0u) << r->generation.text;
}

TEST(ConstrainedChatTest, BadToolChoiceIsABadRequest) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  auto missing = chat.PromptTokens(ToolRequest(ToolChoice::Mode::kNamed, "nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ChatError::Kind::kBadRequest);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  ChatRequest no_tools = ToolRequest(ToolChoice::Mode::kRequired);
  no_tools.tools = OrderedJson();
  EXPECT_FALSE(chat.PromptTokens(no_tools));
}

TEST(ConstrainedChatTest, ThinkingBudgetClosesTheThinkBlock) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  ChatRequest req;
  req.messages = OrderedJson::parse(R"([{"role": "user", "content": "Hello!"}])");
  req.thinking = true;
  req.generate.max_tokens = 30;
  req.generate.context_limit = 4096;
  req.ignore_eos = true;
  auto free = chat.Complete(req);
  ASSERT_TRUE(free) << free.error().message;
  ASSERT_GT(free->usage.reasoning_tokens, 5) << "the unconstrained reply must think longer";
  req.thinking_budget = 5;
  auto r = chat.Complete(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->usage.reasoning_tokens, 5);
  const int32_t end_think = TinyTokenizer().TokenId(tokens::kEndThink);
  ASSERT_GE(r->generation.tokens.size(), 5u);
  EXPECT_EQ(r->generation.tokens[4], end_think);
  // The first four tokens are the model's own (greedy), the answer follows the close tag.
  EXPECT_TRUE(std::equal(r->generation.tokens.begin(), r->generation.tokens.begin() + 4,
                         free->generation.tokens.begin()));
  EXPECT_EQ(r->usage.completion_tokens, 30);
}

TEST(ConstrainedChatTest, ThinkingBudgetThenRequiredCall) {
  ChatCompleter chat(TinySequenceModel(), TinyTokenizer(), nullptr);
  ChatRequest req = ToolRequest(ToolChoice::Mode::kNamed, "set_mode");
  req.thinking = true;
  req.thinking_budget = 8;
  auto r = chat.Complete(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_LE(r->usage.reasoning_tokens, 8);
  ASSERT_EQ(r->message.tool_calls.size(), 1u) << r->generation.text;
  EXPECT_EQ(r->finish_reason, "tool_calls");
}

// Forces the first tokens of the reply (standing in for a model that decides to call a tool), then
// defers to `inner` (or to nothing).
class ForcedStart : public TokenConstraint {
 public:
  ForcedStart(std::vector<int32_t> start, TokenConstraint* inner)
      : start_(std::move(start)), inner_(inner) {}
  bool Allows(int32_t token) const override {
    if (at_ < start_.size()) return token == start_[at_];
    return inner_ == nullptr || inner_->Allows(token);
  }
  bool Mask(std::span<float> logits) const override {
    if (at_ >= start_.size()) return inner_ == nullptr || inner_->Mask(logits);
    return TokenConstraint::Mask(logits);
  }
  void Accept(int32_t token) override {
    ++at_;
    if (inner_ != nullptr) inner_->Accept(token);
  }

 private:
  std::vector<int32_t> start_;
  TokenConstraint* inner_;
  size_t at_ = 0;
};

// Greedy generation on the tiny model for an auto request whose reply is forced to open a tool-call
// block after some text; `constrained`: under the auto grammar the server uses.
std::string AutoReplyWithForcedBlockStart(bool constrained) {
  ChatRequest req = ToolRequest(ToolChoice::Mode::kAuto);
  auto grammar = ToolChoiceGrammar(req);
  EXPECT_TRUE(grammar && *grammar);
  EXPECT_EQ((*grammar)->mode, DsmlGrammarSpec::Mode::kAuto);
  const BpeTokenizer& tok = TinyTokenizer();
  const TokenBytesTable table(tok, 512);
  std::optional<ChatOutputConstraint> auto_grammar;
  if (constrained) {
    auto_grammar.emplace(
        table, ChatConstraintOptions{
                   .grammar = &**grammar, .eos = 1, .end_think = tok.TokenId("</think>")});
  }
  // The model "decides" to call set_mode (whose parameters are all from lists: a free string
  // could run to max_tokens on random weights, with or without a grammar).
  ForcedStart forced(tok.Encode("On it.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"set_"),
                     auto_grammar ? &*auto_grammar : nullptr);
  auto prompt_text = RenderChatPrompt(req);
  EXPECT_TRUE(prompt_text);
  const auto prompt = tok.Encode(*prompt_text);
  const auto sequence = TinySequenceModel().NewSequence();
  Generator generator(TinySequenceModel(), &tok);
  GenerateOptions options = req.generate;
  options.stop_token_ids = {1};
  options.constraint = &forced;
  auto r = generator.Generate(*sequence, prompt, options);
  EXPECT_TRUE(r) << r.error();
  return r ? r->text + (r->finish == FinishReason::kStopToken ? tokens::kEos : "") : "";
}

TEST(ConstrainedChatTest, AutoModeHoldsACallTheModelStartsToTheGrammar) {
  // Left alone after the block's first bytes, the random model writes no valid call.
  const std::string free = AutoReplyWithForcedBlockStart(false);
  auto free_parse = ParseCompletion(free, false);
  EXPECT_TRUE(!free_parse || free_parse->tool_calls.empty()) << free;
  // Under the auto grammar the same start becomes a well-formed call with schema values.
  const std::string text = AutoReplyWithForcedBlockStart(true);
  auto parsed = ParseCompletion(text, false);
  ASSERT_TRUE(parsed) << parsed.error() << "\n" << text;
  EXPECT_TRUE(parsed->ended) << text;
  EXPECT_EQ(parsed->content, "On it.");
  ASSERT_EQ(parsed->tool_calls.size(), 1u) << text;  // parallel_tool_calls false: one invoke
  EXPECT_EQ(parsed->tool_calls[0].name, "set_mode");
  const Json args = Json::parse(parsed->tool_calls[0].arguments);
  ASSERT_TRUE(args.is_object());
  EXPECT_TRUE(args["on"].is_boolean()) << args.dump();
  EXPECT_TRUE(args["level"] == "low" || args["level"] == "high") << args.dump();
}

TEST(ConstrainedChatTest, AutoModeWithoutToolsOrUnderIgnoreEosHasNoGrammar) {
  ChatRequest req = ToolRequest(ToolChoice::Mode::kAuto);
  req.tools = OrderedJson();
  auto none = ToolChoiceGrammar(req);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  req = ToolRequest(ToolChoice::Mode::kAuto);
  req.ignore_eos = true;
  auto ignored = ToolChoiceGrammar(req);
  ASSERT_TRUE(ignored);
  EXPECT_FALSE(*ignored);
}

TEST(ConstrainedChatTest, NoneModeRefusesDsmlTokens) {
  DsmlGrammarSpec spec;
  spec.mode = DsmlGrammarSpec::Mode::kNoTools;
  const BpeTokenizer& tok = TinyTokenizer();
  const TokenBytesTable table(tok, 512);
  ChatOutputConstraint c(table, {.grammar = &spec, .eos = 1, .end_think = tok.TokenId("</think>")});
  const int32_t dsml = tok.TokenId(tokens::kDsml);
  ASSERT_GE(dsml, 0);
  EXPECT_FALSE(c.Allows(dsml));
  EXPECT_TRUE(c.Allows(1));  // EOS: the text may end
  const auto text = tok.Encode("Fine.");
  for (const int32_t t : text) {
    ASSERT_TRUE(c.Allows(t));
    c.Accept(t);
  }
  std::vector<float> logits(512, 0.0f);
  ASSERT_TRUE(c.Mask(logits));
  EXPECT_TRUE(std::isinf(logits[static_cast<size_t>(dsml)]));
  EXPECT_FALSE(std::isinf(logits[1]));
}

}  // namespace
}  // namespace dsagent::engine
